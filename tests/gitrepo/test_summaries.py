"""Run summaries (nbflow/run_summary.py): ``nbflow runs``, the catch-up/backfill scan
and the history page read a long history without building a record per step, and
list exactly what the full records give — damaged, interrupted and resumed runs,
in the working tree and committed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import git, write_run

from nbflow.cli import main
from nbflow.git.history import list_runs, list_summaries
from nbflow.project import Project
from nbflow.report.history import page_records, render_page
from nbflow.run_record import RunRecord
from nbflow.run_summary import RunSummary
from nbflow.store.runs import RECORD_FILE


def edit_record(folder: Path, change: dict[str, Any]) -> None:
    path = folder / RECORD_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}, indent=2) + "\n")


def history(repo: Path) -> None:
    """Committed runs (one damaged, one with an unknown status, one with a step
    without an id), and in the working tree an interrupted run and a resumed one."""
    write_run(repo, "2026-11-20T000000Z-0001")
    write_run(repo, "2026-11-20T000000Z-0002", status="failed", trigger="schedule")
    (write_run(repo, "2026-11-20T000000Z-0003")[0] / RECORD_FILE).write_text('{"workflow": "de')
    edit_record(write_run(repo, "2026-11-20T000000Z-0004")[0], {"status": "exploded"})
    edit_record(write_run(repo, "2026-11-20T000000Z-0005")[0], {"steps": [{"status": "failed"}]})
    write_run(repo, "2026-11-21T000000Z-0006", workflow="other")
    git(repo, "add", "-f", "runs")
    git(repo, "commit", "-q", "-m", "runs")
    for damaged in ("0003", "0004", "0005"):  # in Git only: damaged in the working tree,
        shutil.rmtree(repo / "runs" / "demo" / f"2026-11-20T000000Z-{damaged}")  # runs fails
    interrupted, _ = write_run(repo, "2026-11-22T000000Z-0007", status="running")
    edit_record(interrupted, {"pid": 2**22 + 12345, "end": None})  # no such process
    resumed, record = write_run(repo, "2026-11-22T000000Z-0008")
    steps = [step.to_json() for step in record.steps]
    steps[0] = {**steps[0], "status": "cached", "cached_from": "2026-11-20T000000Z-0001"}
    edit_record(resumed, {"steps": steps, "logical_time": "2026-11-21T00:00:00.000Z"})


def test_summaries_list_what_full_records_list(git_repo: Path) -> None:
    history(git_repo)
    project = Project(git_repo)

    for branches in (None, ["HEAD"]):
        full = list_runs(project, branches=branches)
        summaries = list_summaries(project, branches=branches)

        assert [s.record() for s in summaries] == full
        assert [(s.run_id, s.status, s.logical, s.steps) for s in summaries] == [
            (r.run_id, r.status, r.logical, len(r.steps)) for r in full
        ]
    ids = [s.run_id for s in list_summaries(project)]
    assert ids == [f"2026-11-2{d}T000000Z-000{n}" for d, n in ((0, 1), (0, 2), (2, 7), (2, 8))] + [
        "2026-11-21T000000Z-0006"
    ]


def test_nbflow_runs_prints_the_summaries(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    history(git_repo)
    monkeypatch.chdir(git_repo)

    assert main(["runs"]) == 0

    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert lines["2026-11-20T000000Z-0002"][4:7] == ["failed", "1/2", "steps"]
    assert lines["2026-11-22T000000Z-0007"][4] == "interrupted"
    assert lines["2026-11-22T000000Z-0008"][2:7] == [
        "2026-11-21",
        "00:00",
        "succeeded",
        "1/2",
        "steps",
    ]
    assert "2026-11-20T000000Z-0003" not in lines and "2026-11-20T000000Z-0004" not in lines


def test_the_page_from_summaries_is_the_page_of_every_record() -> None:
    """40 runs: the latest failure is older than the 30 shown, and among the newest is
    one whose summary reads but whose full record does not (it is left out)."""
    datas = []
    for n in range(40):
        status = "failed" if n in (3, 5) else "succeeded"
        step = {"id": "a", "status": status, "attempts": [], "error": None}
        datas.append(
            {
                "workflow": "wf",
                "run_id": f"2026-11-{1 + n // 24:02d}T{n % 24:02d}0000Z-{n:04x}",
                "status": status,
                "trigger": "schedule",
                "start": f"2026-11-{1 + n // 24:02d}T{n % 24:02d}:00:00.000Z",
                "duration": float(n),
                "steps": [step],
            }
        )
    datas[38]["steps"] = [{"id": "a", "status": "succeeded", "attempts": [{"number": 1}]}]
    readable = []
    for data in datas:
        try:
            readable.append(RunRecord.from_json(data))
        except (KeyError, TypeError, ValueError):
            continue
    summaries = [RunSummary.from_json(d) for d in datas]

    records = page_records(summaries)

    assert len(readable) == 39 and len(records) == 31
    assert render_page("wf", records) == render_page("wf", readable)
    assert datas[5]["run_id"] in render_page("wf", records)["README.md"].split("Last failure")[1]
