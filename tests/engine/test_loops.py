"""No event loop is left open in nbflow's threads after a run, a timed-out step's
included: an open one is finalised at interpreter exit and may print ``Exception
ignored in: BaseEventLoop.__del__ … Invalid file descriptor: -1``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from helpers import latest_run, write_manifest, write_notebook

from nbflow.cli import main


def test_a_run_with_a_timed_out_step_leaves_no_event_loop_open(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project / "workflows" / "slow"
    write_notebook(folder / "slow.ipynb", None, ["import time\ntime.sleep(60)"])
    write_notebook(folder / "quick.ipynb", None, ["x = 1"])
    write_manifest(
        folder,
        "name: slow\nsteps:\n  - {id: slow, notebook: slow.ipynb, timeout: 1s}\n"
        "  - {id: quick, notebook: quick.ipynb, needs: []}\n",
    )
    made: list[tuple[str, asyncio.AbstractEventLoop]] = []
    new_event_loop = asyncio.new_event_loop

    def recording() -> asyncio.AbstractEventLoop:
        loop = new_event_loop()
        made.append((threading.current_thread().name, loop))
        return loop

    monkeypatch.setattr(asyncio, "new_event_loop", recording)

    assert main(["run", "slow", "--jobs", "2"]) == 1

    _, record = latest_run(project, "slow")
    assert [s.status.value for s in record.steps] == ["failed", "succeeded"]
    assert made, "no event loop was made: the test no longer sees jupyter_client's"
    open_loops = [name for name, loop in made if not loop.is_closed()]
    assert open_loops == []
