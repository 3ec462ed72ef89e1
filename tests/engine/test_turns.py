"""One turn of the runner's loop: what it writes, and what it looks at.

A step ending and the steps it lets start are saved in one write of run.json, made
before any of them starts (so a step that finished is on disk before a step that
needs it runs); SLAs are checked over the steps going on, not every step.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import write_manifest, write_notebook

from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.engine.sla import SlaWatch
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunRecord, RunStatus, StepRecord, StepStatus
from nbflow.store import runs

#: A step's notebook: what run.json on disk says of every step as it executes.
SEEN = """
import json, os, pathlib, nbflow
folder = pathlib.Path(os.environ['NBFLOW_RUN_ID'])
record = json.loads((pathlib.Path('../../runs/saved') / folder / 'run.json').read_text())
nbflow.record('seen', {s['id']: s['status'] for s in record['steps']})
"""


def test_a_step_ending_and_the_next_starting_are_one_save_made_before_it_starts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = project / "workflows" / "saved"
    for name in "abc":
        write_notebook(folder / f"{name}.ipynb", "x = 0", [SEEN])
    manifest = write_manifest(
        folder,
        """
        name: saved
        steps:
          - {id: a, notebook: a.ipynb}
          - {id: b, notebook: b.ipynb, needs: [a]}
          - {id: c, notebook: c.ipynb, needs: [b]}
        """,
    )
    saves: list[dict[str, str]] = []
    write_record = runs.write_record

    def counted(run_dir: Path, record: RunRecord, text: str | None = None) -> None:
        saves.append({s.id: s.status.value for s in record.steps})
        write_record(run_dir, record, text)

    monkeypatch.setattr(runs, "write_record", counted)

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    assert record.status is RunStatus.SUCCEEDED
    # each step saw on disk the steps before it succeeded, and itself running
    assert record.step("b").outputs["seen"] == {"a": "succeeded", "b": "running", "c": "pending"}
    assert record.step("c").outputs["seen"] == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "running",
    }
    # the start, one save a turn (a step's end with the next one's start), the end
    assert saves == [
        {"a": "pending", "b": "pending", "c": "pending"},
        {"a": "running", "b": "pending", "c": "pending"},
        {"a": "succeeded", "b": "running", "c": "pending"},
        {"a": "succeeded", "b": "succeeded", "c": "running"},
        {"a": "succeeded", "b": "succeeded", "c": "succeeded"},
        {"a": "succeeded", "b": "succeeded", "c": "succeeded"},
    ]


def test_slas_are_checked_over_the_steps_going_on_alone(tmp_path: Path) -> None:
    folder = tmp_path / "workflows" / "sla"
    write_notebook(folder / "n.ipynb", "x = 0", ["1"])
    steps = "".join(f"  - {{id: s{i}, notebook: n.ipynb, sla: 1s}}\n" for i in range(4))
    workflow = load_manifest(write_manifest(folder, f"name: sla\nsteps:\n{steps}"))
    running = {"s0": StepStatus.RUNNING, "s1": StepStatus.RUNNING, "s2": StepStatus.PENDING}
    record = RunRecord(
        "sla",
        "2026-12-02T100000Z-ab12",
        RunStatus.RUNNING,
        "manual",
        "2026-12-02T10:00:00.000Z",
        steps=tuple(
            StepRecord(s.id, status=running.get(s.id, StepStatus.SUCCEEDED)) for s in workflow.steps
        ),
    )
    watch = SlaWatch(workflow, lambda record, miss: None)
    long_ago = time.monotonic() - 60
    watch.step_started.update(dict.fromkeys(("s0", "s1", "s2", "s3"), long_ago))

    # s1 runs, s2 waits for its paths; s0's record still says running, but the
    # loop does not count it among the steps going on, so it is not looked at
    checked = watch.check(record, waiting={"s2"}, running={"s1"})

    assert [(m.step, m.sla) for m in checked.sla_misses] == [("s1", 1.0), ("s2", 1.0)]
    assert watch.check(checked, waiting={"s2"}, running={"s1"}) is checked  # once each
