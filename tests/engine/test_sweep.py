"""Parameter sweeps: a ``foreach:`` step runs once per item, through real kernels."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    STOP_TIMEOUT,
    injected_parameters,
    latest_run,
    sweep_workflow,
    wait_for,
    write_manifest,
    write_notebook,
)

from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.engine.sweep import settle_sweep
from nbflow.manifest.load import load_manifest
from nbflow.report.run_report import render_report
from nbflow.run_record import (
    ItemRecord,
    RunRecord,
    RunStatus,
    StepError,
    StepRecord,
    StepStatus,
    parse_time,
)
from nbflow.store.runs import read_record

NOW = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "foreach",
    ["[eu, us, apac]", '"${{ params.regions }}"', '"${{ steps.prepare.outputs.regions }}"'],
    ids=["literal", "parameter", "upstream-output"],
)
def test_sweep_runs_one_notebook_per_item(project: Path, foreach: str) -> None:
    manifest = sweep_workflow(project / "workflows" / "sweep", foreach)

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=2, now=NOW))

    assert record.status == RunStatus.SUCCEEDED
    run_dir = project / "runs" / "sweep" / record.run_id
    region = record.step("region")
    assert region.status == StepStatus.SUCCEEDED
    assert [(i.index, i.value, i.status) for i in region.items] == [
        (0, "eu", StepStatus.SUCCEEDED),
        (1, "us", StepStatus.SUCCEEDED),
        (2, "apac", StepStatus.SUCCEEDED),
    ]
    assert [i.notebook for i in region.items] == [
        "region.0.ipynb",
        "region.1.ipynb",
        "region.2.ipynb",
    ]
    assert [i.parameters for i in region.items] == [
        {"region": "eu", "position": 0},
        {"region": "us", "position": 1},
        {"region": "apac", "position": 2},
    ]
    assert injected_parameters(run_dir / "region.1.ipynb") == (
        '# Parameters\nregion = "us"\nposition = 1\n'
    )
    assert region.outputs == {"total": [20, 21, 42]}
    assert record.step("combine").parameters == {"totals": [20, 21, 42]}
    assert record.step("combine").outputs == {"sum": 83}
    assert not (run_dir / "region.ipynb").exists()
    assert region.start == min(i.start for i in region.items if i.start)
    assert region.end == max(i.end for i in region.items if i.end)
    assert read_record(run_dir) == record


def test_failing_item_fails_the_step_and_skips_its_dependants(project: Path) -> None:
    manifest = sweep_workflow(project / "workflows" / "sweep", "[eu, boom, apac]")

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=3, now=NOW))

    assert record.status == RunStatus.FAILED
    region = record.step("region")
    assert region.status == StepStatus.FAILED
    assert [i.status for i in region.items] == [
        StepStatus.SUCCEEDED,
        StepStatus.FAILED,
        StepStatus.SUCCEEDED,
    ]
    assert region.items[1].error is not None
    assert region.items[1].error.ename == "AssertionError"
    assert region.error is not None
    assert region.error.evalue == "region[boom]: no such region"
    assert region.reason == "1 of 3 items failed"
    combine = record.step("combine")
    assert combine.status == StepStatus.SKIPPED
    assert combine.reason == "needs 'region', which failed"
    run_dir = project / "runs" / "sweep" / record.run_id
    assert all((run_dir / f"region.{n}.ipynb").is_file() for n in range(3))
    report = (run_dir / "README.md").read_text(encoding="utf-8")
    assert "| `region[eu]` | ✅ succeeded | 1 |" in report
    assert "| `region[boom]` | ❌ failed | 1 |" in report
    assert "[`region.1.ipynb`](region.1.ipynb)" in report
    assert "### ❌ failed: `region[boom]`" in report
    assert "### ❌ failed: `region`\n" not in report
    assert 's_region["region (3 items)"]' in report


def test_items_run_concurrently_within_jobs(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEP_SLEEP", "1.5")
    manifest = sweep_workflow(project / "workflows" / "sweep", "[eu, us, apac]")

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=3, now=NOW))

    assert record.status == RunStatus.SUCCEEDED
    items = record.step("region").items
    starts = [parse_time(a.start) for i in items for a in i.attempts]
    ends = [parse_time(a.end) for i in items for a in i.attempts]
    assert max(starts) < min(ends), "the three items did not overlap"


def test_foreach_output_that_is_not_a_list_fails_the_step(project: Path) -> None:
    folder = project / "workflows" / "sweep"
    manifest = sweep_workflow(folder, '"${{ steps.prepare.outputs.regions }}"')
    write_notebook(folder / "prepare.ipynb", "", ["import nbflow\nnbflow.record('regions', 'eu')"])

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1, now=NOW))

    region = record.step("region")
    assert region.status == StepStatus.FAILED
    assert region.error is not None
    assert region.error.evalue == (
        f"{manifest}:9:14: steps[1] (region).foreach: "
        "${{ steps.prepare.outputs.regions }} has type str, not list"
    )
    assert region.items == ()
    assert record.step("combine").status == StepStatus.SKIPPED


def test_empty_foreach_list_succeeds_with_empty_outputs(project: Path) -> None:
    folder = project / "workflows" / "sweep"
    manifest = sweep_workflow(folder, '"${{ params.regions }}"')

    options = RunOptions(jobs=1, now=NOW, parameters={"regions": []})
    record = run_workflow(load_manifest(manifest), options)

    assert record.status == RunStatus.SUCCEEDED
    assert record.step("region").outputs == {"total": []}
    assert record.step("combine").outputs == {"sum": 0}


def test_sweep_record_round_trips_through_json() -> None:
    error = StepError("ValueError", "bad", 2, "tb")
    step = StepRecord(
        id="region",
        status=StepStatus.RUNNING,
        items=(
            ItemRecord(
                0,
                "eu",
                status=StepStatus.SUCCEEDED,
                notebook="region.0.ipynb",
                outputs={"total": 1},
            ),
            ItemRecord(
                1,
                {"name": ["us"]},
                status=StepStatus.FAILED,
                notebook="region.1.ipynb",
                error=error,
            ),
        ),
    )
    record = RunRecord(
        "w", "r", RunStatus.FAILED, "manual", "2026-11-20T06:30:00.000Z", steps=(step,)
    )

    again = RunRecord.from_json(json.loads(json.dumps(record.to_json())))

    assert again == record
    settled = settle_sweep(again.steps[0], ["total"])
    assert settled.status == StepStatus.FAILED
    assert settled.outputs == {"total": [1, None]}
    assert [i.label("region") for i in settled.items] == ["region[eu]", "region[1]"]
    assert "| `region[1]` | ❌ failed |" in render_report(record.with_step(settled))


def test_a_failed_sweep_reports_the_failed_items_error_not_a_cancelled_ones() -> None:
    """An item cut short by a stop carries an error too (KeyboardInterrupt): the
    step's error, the one notifications show, is the first *failed* item's."""
    stopped = StepError("KeyboardInterrupt", "", 1, "tb")
    boom = StepError("ValueError", "boom", 2, "tb")
    step = StepRecord(
        id="region",
        status=StepStatus.RUNNING,
        items=(
            ItemRecord(0, "eu", status=StepStatus.CANCELLED, error=stopped),
            ItemRecord(1, "us", status=StepStatus.FAILED, error=boom),
        ),
    )

    settled = settle_sweep(step)

    assert (settled.status, settled.error) == (
        StepStatus.FAILED,
        StepError("ValueError", "region[us]: boom", 2, "tb"),
    )
    assert settled.reason == "1 of 2 items failed"


def test_a_settled_sweep_spans_its_items_to_the_millisecond() -> None:
    """The step starts with its first item and ends with its last; its duration is
    theirs to the millisecond, as a step's is."""
    step = StepRecord(
        id="region",
        status=StepStatus.RUNNING,
        items=(
            ItemRecord(0, "eu", status=StepStatus.SUCCEEDED, start="2026-11-20T06:30:00.250Z",
                       end="2026-11-20T06:30:01.000Z"),
            ItemRecord(1, "us", status=StepStatus.SUCCEEDED, start="2026-11-20T06:30:00.100Z",
                       end="2026-11-20T06:30:01.337Z"),
        ),
    )  # fmt: skip

    settled = settle_sweep(step)

    assert (settled.start, settled.end, settled.duration) == (
        "2026-11-20T06:30:00.100Z",
        "2026-11-20T06:30:01.337Z",
        1.237,
    )


@pytest.mark.parametrize(
    ("statuses", "settled"),
    [
        ((), StepStatus.SUCCEEDED),
        ((StepStatus.CACHED, StepStatus.CACHED), StepStatus.CACHED),
        ((StepStatus.CACHED, StepStatus.SUCCEEDED), StepStatus.SUCCEEDED),
        ((StepStatus.SUCCEEDED, StepStatus.CANCELLED), StepStatus.CANCELLED),
        ((StepStatus.CANCELLED, StepStatus.FAILED), StepStatus.FAILED),
    ],
    ids=["no-items", "all-cached", "some-cached", "one-cancelled", "one-failed"],
)
def test_a_sweep_settles_as_its_items_say(
    statuses: tuple[StepStatus, ...], settled: StepStatus
) -> None:
    """Failed when an item failed, cancelled when one was, cached only when every item
    was (an empty list of items executed nothing, and succeeded), else succeeded."""
    items = tuple(ItemRecord(i, f"v{i}", status=s) for i, s in enumerate(statuses))

    assert settle_sweep(StepRecord(id="s", status=StepStatus.RUNNING, items=items)).status == (
        settled
    )


def test_interrupted_sweep_cancels_running_and_queued_items(project: Path) -> None:
    folder = project / "workflows" / "stop"
    write_notebook(
        folder / "slow.ipynb",
        "name = ''",
        [
            "import pathlib, time\npathlib.Path(f'started-{name}.txt').write_text('yes')\n"
            "time.sleep(600)"  # far longer than STOP_TIMEOUT: only the signal ends it
        ],
    )
    write_manifest(
        folder,
        """
        name: stop
        steps:
          - {id: slow, notebook: slow.ipynb, foreach: [a, b, c], parameters: {name: "${{ item }}"}}
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbflow", "run", "stop", "--jobs", "2"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(folder / "started-a.txt", proc)  # --jobs 2: a and b start, c waits
        wait_for(folder / "started-b.txt", proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=STOP_TIMEOUT)
    finally:
        proc.kill()

    assert proc.returncode == 130, err
    run_dir, record = latest_run(project, "stop")
    assert record.status == RunStatus.CANCELLED
    slow = record.step("slow")
    assert slow.status == StepStatus.CANCELLED
    assert [i.status for i in slow.items] == [StepStatus.CANCELLED] * 3
    assert slow.items[2].attempts == () and slow.items[2].reason == "the run was interrupted"
    assert (run_dir / "slow.0.ipynb").is_file() and not (run_dir / "slow.2.ipynb").exists()
    assert "| `slow[c]` | 🚫 cancelled | — | — | — |" in (run_dir / "README.md").read_text()


def flaky_sweep(folder: Path) -> Path:
    """``item`` fails while a file ``fail-<item>`` exists in the workflow folder."""
    write_notebook(
        folder / "item.ipynb",
        "name = ''",
        [
            "import nbflow, pathlib\n"
            "assert not pathlib.Path(f'fail-{name}').exists(), f'{name} told to fail'\n"
            "nbflow.record('upper', name.upper())"
        ],
    )
    return write_manifest(
        folder,
        """
        name: flaky
        steps:
          - {id: item, notebook: item.ipynb, foreach: [a, b, c], parameters: {name: "${{ item }}"}}
        """,
    )


def test_resume_executes_only_the_items_that_did_not_succeed(project: Path) -> None:
    folder = project / "workflows" / "flaky"
    workflow = load_manifest(flaky_sweep(folder))
    (folder / "fail-b").write_text("", encoding="utf-8")
    first = run_workflow(workflow, RunOptions(jobs=3))
    assert [i.status for i in first.step("item").items] == [
        StepStatus.SUCCEEDED,
        StepStatus.FAILED,
        StepStatus.SUCCEEDED,
    ]
    run_dir = project / "runs" / "flaky" / first.run_id
    kept = (run_dir / "item.0.ipynb").stat().st_mtime_ns
    (folder / "fail-b").unlink()

    second = run_workflow(workflow, RunOptions(jobs=3, resume=first.run_id))

    assert second.status == RunStatus.SUCCEEDED
    items = second.step("item").items
    assert [len(i.attempts) for i in items] == [1, 2, 1]
    assert [a.status for a in items[1].attempts] == [StepStatus.FAILED, StepStatus.SUCCEEDED]
    assert items[0] == first.step("item").items[0]
    assert (run_dir / "item.0.ipynb").stat().st_mtime_ns == kept
    assert second.step("item").outputs == {"upper": ["A", "B", "C"]}


def test_chosen_items_execute_and_the_others_stay_pending(project: Path) -> None:
    workflow = load_manifest(flaky_sweep(project / "workflows" / "flaky"))

    record = run_workflow(workflow, RunOptions(jobs=2, items={"item": frozenset({0, 2})}))

    items = record.step("item").items
    assert [i.status for i in items] == [
        StepStatus.SUCCEEDED,
        StepStatus.PENDING,
        StepStatus.SUCCEEDED,
    ]
    assert record.step("item").status == StepStatus.RUNNING
    run_dir = project / "runs" / "flaky" / record.run_id
    assert sorted(p.name for p in run_dir.glob("item.*.ipynb")) == ["item.0.ipynb", "item.2.ipynb"]


def test_items_are_cached_one_by_one(project: Path) -> None:
    workflow = load_manifest(
        sweep_workflow(project / "workflows" / "sweep", '"${{ params.regions }}"')
    )
    first = run_workflow(workflow, RunOptions(jobs=3, cached=True))
    assert first.step("region").status == StepStatus.SUCCEEDED
    assert all(i.fingerprint for i in first.step("region").items)

    same = run_workflow(workflow, RunOptions(jobs=3, cached=True))
    changed = run_workflow(
        workflow, RunOptions(jobs=3, cached=True, parameters={"regions": ["eu", "us", "latam"]})
    )

    region = same.step("region")
    assert region.status == StepStatus.CACHED
    assert [i.cached_from for i in region.items] == [
        f"{first.run_id}/region.{n}.ipynb" for n in range(3)
    ]
    assert region.outputs == first.step("region").outputs
    assert same.step("combine").status == StepStatus.CACHED
    items = changed.step("region").items
    assert [i.status for i in items] == [StepStatus.CACHED, StepStatus.CACHED, StepStatus.SUCCEEDED]
    assert changed.step("region").status == StepStatus.SUCCEEDED
    assert changed.step("combine").status == StepStatus.SUCCEEDED  # its totals changed
    run_dir = project / "runs" / "sweep" / changed.run_id
    assert injected_parameters(run_dir / "region.0.ipynb") == (
        '# Parameters\nregion = "eu"\nposition = 0\n'
    )
    forced = run_workflow(workflow, RunOptions(jobs=3, cached=True, force_steps=["region"]))
    assert {i.status for i in forced.step("region").items} == {StepStatus.SUCCEEDED}


def test_every_item_executed_here_gets_the_runs_warm_kernels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel pool is made once a step is to execute (a run whose steps are all
    cached imports none of it), before the tasks of a foreach step's items are made
    (when it expands, before any item starts): each item's task carries it."""
    import shutil

    from nbflow.engine import step
    from nbflow.engine.step_task import StepResult
    from nbflow.run_record import utc_now

    folder = tmp_path / "workflows" / "warm"
    write_notebook(folder / "a.ipynb", "x = 0", ["y = x"])
    workflow = load_manifest(
        write_manifest(
            folder,
            """
            name: warm
            steps:
              - id: each
                notebook: a.ipynb
                foreach: [1, 2, 3]
                parameters: {x: "${{ item }}"}
            """,
        )
    )
    pools: dict[str, object] = {}

    def execute_step(task: Any, handle: Any, cancelled: Any) -> StepResult:
        pools[task.step_id] = task.kernels
        shutil.copyfile(task.notebook, task.output)
        now = utc_now()
        return StepResult(StepStatus.SUCCEEDED, now, now, 0.0)

    monkeypatch.setattr(step, "execute_step", execute_step)
    monkeypatch.setenv("NBFLOW_FORK_KERNELS", "0")  # no template started for the fake steps

    record = run_workflow(workflow, RunOptions(jobs=2))

    assert record.status == RunStatus.SUCCEEDED
    assert sorted(pools) == ["each[0]", "each[1]", "each[2]"]
    assert pools["each[0]"] is not None
    assert all(pool is pools["each[0]"] for pool in pools.values())
