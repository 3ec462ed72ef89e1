"""``--jobs N``: at most N steps are running, and only those are shown and recorded as
running; the others stay pending until a worker is free."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import latest_run, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.run_record import parse_time


def test_a_step_waiting_for_a_worker_is_not_shown_running(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "par"
    for name in "ab":
        write_notebook(folder / f"{name}.ipynb", None, ["x = 1"])
    write_manifest(
        folder,
        "name: par\nsteps:\n  - {id: a, notebook: a.ipynb}\n"
        "  - {id: b, notebook: b.ipynb, needs: []}\n",
    )

    assert main(["run", "par", "--jobs", "1"]) == 0

    _, record = latest_run(project, "par")
    lines = [line.split()[:3] for line in capsys.readouterr().err.splitlines()]
    assert [line for line in lines if line and line[0] in ("▶", "✓")] == [
        ["▶", "a", "running"],
        ["✓", "a", "succeeded"],
        ["▶", "b", "running"],
        ["✓", "b", "succeeded"],
    ]
    a, b = record.steps
    assert parse_time(b.start) >= parse_time(a.end)
