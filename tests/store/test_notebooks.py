"""Executed notebooks diff cleanly: volatile metadata moves to the run record."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from helpers import write_manifest, write_notebook

from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.engine.step import KernelHandle, StepResult, StepTask, execute_step
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunRecord, StepStatus
from nbflow.store.notebooks import clean_notebook

ONCE = "2026-12-02T000000Z-0ce1"
MANIFEST = """
name: demo
parameters:
  size: {type: int, default: 3}
steps:
  - id: make
    notebook: make.ipynb
  - id: fail
    notebook: fail.ipynb
    needs: []
"""


def test_the_same_inputs_give_byte_identical_notebooks(tmp_path: Path) -> None:
    folder = tmp_path / "workflows" / "demo"
    write_notebook(folder / "make.ipynb", "size = 1", ["print(list(range(size)))", "size * 2"])
    write_notebook(folder / "fail.ipynb", None, ["raise ValueError('bad input')"])
    workflow = load_manifest(write_manifest(folder, MANIFEST))
    now = datetime(2026, 11, 23, tzinfo=UTC)

    records = [
        run_workflow(workflow, RunOptions(jobs=2, now=now, run_id=run_id))
        for run_id in ("2026-11-23T000000Z-aaaa", "2026-11-23T000000Z-bbbb")
    ]

    runs = [tmp_path / "runs" / "demo" / r.run_id for r in records]
    for step in ("make", "fail"):
        first, second = ((run / f"{step}.ipynb").read_bytes() for run in runs)
        assert first == second, step
        assert b"start_time" not in first and b"iopub" not in first and b"bbbb" not in second
    assert [s.status for s in records[0].steps] == [StepStatus.SUCCEEDED, StepStatus.FAILED]
    make = json.loads((runs[0] / "make.ipynb").read_text())
    assert make["metadata"]["papermill"] == {
        "default_parameters": {},
        "input_path": "workflows/demo/make.ipynb",
        "parameters": {"size": 3},
    }
    assert [c["id"] for c in make["cells"]][1] == "injected-parameters"
    timings = records[0].step("make").timings
    assert set(timings) == {"papermill", "cells"}
    # relative to the project: no record names the folder a checkout happens to be in
    assert timings["papermill"]["output_path"] == "runs/demo/2026-11-23T000000Z-aaaa/make.ipynb"
    assert [c["cell"] for c in timings["cells"]] == [0, 1, 2, 3]
    assert set(timings["cells"][1]) == {"cell", "id", "papermill", "execution"}
    saved = json.loads((runs[0] / "run.json").read_text())
    assert saved["steps"][0]["timings"] == timings
    assert str(tmp_path) not in (runs[0] / "run.json").read_text()


def test_a_missing_or_broken_notebook_is_left_alone(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")

    assert clean_notebook(tmp_path / "missing.ipynb") == {}
    assert clean_notebook(broken) == {}
    assert broken.read_text() == "{not json"


def test_records_written_before_timings_existed_still_load() -> None:
    record = RunRecord.from_json(
        {
            "workflow": "demo",
            "run_id": "2026-11-23T000000Z-ab12",
            "status": "succeeded",
            "trigger": "manual",
            "start": "2026-11-23T00:00:00.000Z",
            "steps": [{"id": "a", "status": "succeeded"}],
        }
    )

    assert record.step("a").timings == {}


def test_a_step_writes_its_notebook_once_already_clean(tmp_path: Path) -> None:
    folder = tmp_path / "workflows" / "demo"
    write_notebook(folder / "make.ipynb", "size = 1", ["print(list(range(size)))", "size * 2"])
    write_notebook(folder / "fail.ipynb", None, ["raise ValueError('bad input')"])
    workflow = load_manifest(write_manifest(folder, MANIFEST))
    written: dict[str, tuple[int, bytes]] = {}

    def executor(task: StepTask, handle: KernelHandle, cancelled: Callable[[], bool]) -> StepResult:
        result = execute_step(task, handle, cancelled)
        written[task.step_id] = (task.output.stat().st_ino, task.output.read_bytes())
        return result

    record = run_workflow(workflow, RunOptions(jobs=2, run_id=ONCE), executor=executor)

    run = tmp_path / "runs" / "demo" / ONCE
    for step in ("make", "fail"):
        path = run / f"{step}.ipynb"
        # the same file (a rewrite replaces it: a new inode) and the same bytes
        assert (path.stat().st_ino, path.read_bytes()) == written[step], step
        assert b"start_time" not in written[step][1] and ONCE.encode() not in written[step][1]
    timings = record.step("make").timings
    assert timings["papermill"]["output_path"] == f"runs/demo/{ONCE}/make.ipynb"
    assert [c["cell"] for c in timings["cells"]] == [0, 1, 2, 3]
