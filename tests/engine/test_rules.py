"""Trigger rules, conditions, waiting for data and SLAs in whole runs: real kernels,
real notebooks, a real HTTP receiver for SLA notifications."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import latest_run, serve_receiver, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.load import load_manifest
from nbflow.report.run_report import render_report
from nbflow.run_record import RunRecord, RunStatus, StepStatus, parse_time

NOW = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
OK = ["import nbflow\nnbflow.record('ok', True)"]
FAIL = ["raise ValueError('the load broke')"]


def run(manifest: Path, **options: Any) -> RunRecord:
    return run_workflow(load_manifest(manifest), RunOptions(jobs=1, now=NOW, **options))


def test_all_done_cleanup_and_any_failed_alert_run_after_a_failure_and_the_run_fails(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "rules"
    write_notebook(folder / "load.ipynb", "x = 1", FAIL)
    for name in ("report", "cleanup", "alert", "quiet"):
        write_notebook(folder / f"{name}.ipynb", "x = 1", OK)
    write_manifest(
        folder,
        """
        name: rules
        steps:
          - {id: load, notebook: load.ipynb}
          - {id: report, notebook: report.ipynb}
          - {id: cleanup, notebook: cleanup.ipynb, needs: [load], run_if: all_done}
          - {id: alert, notebook: alert.ipynb, needs: [report], run_if: any_failed}
          - {id: quiet, notebook: quiet.ipynb, needs: [report], run_if: none_failed}
        """,
    )

    code = main(["run", "rules", "--jobs", "1"])

    assert code == 1
    run_dir, record = latest_run(project, "rules")
    assert record.status == RunStatus.FAILED
    steps = {s.id: (s.status, s.reason) for s in record.steps}
    assert steps == {
        "load": (StepStatus.FAILED, ""),
        "report": (StepStatus.SKIPPED, "needs 'load', which failed"),
        "cleanup": (
            StepStatus.SUCCEEDED,
            "run_if all_done: every step it needs is done; 'load' failed",
        ),
        # report was skipped because load failed: a failure, to the rules
        "alert": (
            StepStatus.SUCCEEDED,
            "run_if any_failed: 'report' skipped after a failure",
        ),
        "quiet": (
            StepStatus.SKIPPED,
            "run_if none_failed: needs 'report', which skipped after a failure",
        ),
    }
    report = (run_dir / "README.md").read_text(encoding="utf-8")
    assert "## Run by a trigger rule" in report
    assert "- ran `cleanup`: run\\_if all\\_done: every step it needs is done; 'load' failed" in (
        report
    )
    assert "`quiet`: run\\_if none\\_failed: needs 'report', which skipped after" in report


def test_an_any_failed_alert_is_skipped_when_nothing_failed(project: Path) -> None:
    folder = project / "workflows" / "calm"
    write_notebook(folder / "load.ipynb", "x = 1", OK)
    write_notebook(folder / "alert.ipynb", "x = 1", OK)
    write_notebook(folder / "after.ipynb", "x = 1", OK)
    manifest = write_manifest(
        folder,
        """
        name: calm
        steps:
          - {id: load, notebook: load.ipynb}
          - {id: alert, notebook: alert.ipynb, run_if: any_failed}
          - {id: after, notebook: after.ipynb, needs: [alert], run_if: none_failed}
        """,
    )

    record = run(manifest)

    assert record.status == RunStatus.SUCCEEDED
    alert, after = record.step("alert"), record.step("after")
    assert (alert.status, alert.reason) == (
        StepStatus.SKIPPED,
        "run_if any_failed: no step it needs failed",
    )
    assert alert.notebook == "" and not alert.attempts
    # skipped on its own, not after a failure: none_failed runs after it
    assert (after.status, after.reason) == (
        StepStatus.SUCCEEDED,
        "run_if none_failed: none failed; 'alert' skipped",
    )


CONDITIONS = """
name: cond
parameters:
  full_refresh: {type: bool, default: false}
  floor: {type: int, default: 0}
steps:
  - id: check
    notebook: check.ipynb
  - id: rebuild
    notebook: step.ipynb
    if: "${{ params.full_refresh }}"
  - id: after_default
    notebook: step.ipynb
    needs: [rebuild]
  - id: after_none_failed
    notebook: step.ipynb
    needs: [rebuild]
    run_if: none_failed
  - id: load
    notebook: step.ipynb
    needs: [check]
    if: "${{ steps.check.outputs.rows > params.floor and run.date == '2026-11-20' }}"
"""


@pytest.fixture
def conditions(project: Path) -> Path:
    folder = project / "workflows" / "cond"
    write_notebook(folder / "check.ipynb", "rows = 0", ["import nbflow\nnbflow.record('rows', 3)"])
    write_notebook(folder / "step.ipynb", "x = 1", OK)
    return write_manifest(folder, CONDITIONS)


def test_a_false_condition_skips_the_step_and_its_dependants_follow_their_run_if(
    conditions: Path,
) -> None:
    record = run(conditions, parameters={"floor": 5})

    assert record.status == RunStatus.SUCCEEDED
    steps = {s.id: (s.status, s.reason) for s in record.steps}
    assert steps == {
        "check": (StepStatus.SUCCEEDED, ""),
        "rebuild": (
            StepStatus.SKIPPED,
            "condition false: ${{ params.full_refresh }} (params.full_refresh = False)",
        ),
        "after_default": (StepStatus.SKIPPED, "needs 'rebuild', which skipped"),
        "after_none_failed": (
            StepStatus.SUCCEEDED,
            "run_if none_failed: none failed; 'rebuild' skipped",
        ),
        "load": (
            StepStatus.SKIPPED,
            "condition false: ${{ steps.check.outputs.rows > params.floor and run.date == "
            "'2026-11-20' }} (steps.check.outputs.rows = 3, params.floor = 5, "
            "run.date = '2026-11-20')",
        ),
    }


def test_a_true_condition_runs_the_step(conditions: Path) -> None:
    record = run(conditions, parameters={"full_refresh": True})

    statuses = {s.id: s.status for s in record.steps}
    assert set(statuses.values()) == {StepStatus.SUCCEEDED}
    assert record.step("rebuild").reason == ""


def test_a_condition_that_cannot_be_evaluated_fails_the_step(project: Path) -> None:
    folder = project / "workflows" / "badcond"
    write_notebook(
        folder / "check.ipynb", "x = 1", ["import nbflow\nnbflow.record('rows', 'many')"]
    )
    write_notebook(folder / "load.ipynb", "x = 1", OK)
    manifest = write_manifest(
        folder,
        """
        name: badcond
        steps:
          - {id: check, notebook: check.ipynb}
          - {id: load, notebook: load.ipynb, if: "${{ steps.check.outputs.rows > 0 }}"}
        """,
    )

    record = run(manifest)

    load = record.step("load")
    assert record.status == RunStatus.FAILED
    assert load.status == StepStatus.FAILED and not load.attempts
    assert load.error is not None
    assert (load.error.ename, load.error.evalue) == (
        "ConditionError",
        "if: ${{ steps.check.outputs.rows > 0 }}: cannot compare 'many' > 0: not two "
        "numbers or texts",
    )


# -- waiting for data --------------------------------------------------------------------


def test_a_waiting_step_takes_no_worker_and_starts_once_its_files_appear(project: Path) -> None:
    """With --jobs 1, the waiting step comes first: if it held the only worker, the step
    writing its file could never run and the wait would time out."""
    folder = project / "workflows" / "drop"
    write_notebook(
        folder / "wait.ipynb",
        "day = ''",
        [
            "import nbflow, pathlib\n"
            "nbflow.record('files', sorted(p.name for p in pathlib.Path('drop', day).iterdir()))"
        ],
    )
    write_notebook(
        folder / "write.ipynb",
        "day = ''",
        [
            "import pathlib, time\ntime.sleep(1)\n"
            "folder = pathlib.Path('drop', day)\nfolder.mkdir(parents=True)\n"
            "(folder / 'x.tmp').write_text('1')\n(folder / 'x.tmp').rename(folder / 'x.csv')"
        ],
    )
    manifest = write_manifest(
        folder,
        """
        name: drop
        parameters:
          day: {type: date, default: today}
        steps:
          - id: wait
            notebook: wait.ipynb
            needs: []
            wait_for: {paths: ["drop/${{ params.day }}/*.csv"], timeout: 10m, every: 0.1}
          - {id: write, notebook: write.ipynb, needs: []}
        """,
    )

    record = run(manifest)

    wait, write = record.step("wait"), record.step("write")
    assert record.status == RunStatus.SUCCEEDED
    assert wait.outputs == {"files": ["x.csv"]}
    assert parse_time(wait.attempts[0].start) >= parse_time(write.end)
    assert wait.reason.startswith("waited ") and wait.reason.endswith(" s for its wait_for paths")


def test_a_wait_that_times_out_fails_the_step_naming_what_never_appeared(project: Path) -> None:
    folder = project / "workflows" / "late"
    write_notebook(folder / "load.ipynb", "x = 1", OK)
    write_notebook(folder / "tidy.ipynb", "x = 1", OK)
    (folder / "drop").mkdir(parents=True)
    (folder / "drop" / "paypal.csv").write_text("x")
    manifest = write_manifest(
        folder,
        """
        name: late
        steps:
          - id: load
            notebook: load.ipynb
            wait_for:
              paths: [drop/paypal.csv, "drop/stripe-${{ run.date }}.csv"]
              timeout: 1
              every: 0.2
          - {id: tidy, notebook: tidy.ipynb, run_if: all_done}
        """,
    )

    record = run(manifest)

    load, tidy = record.step("load"), record.step("tidy")
    assert record.status == RunStatus.FAILED
    assert load.status == StepStatus.FAILED and not load.attempts and load.notebook == ""
    assert load.error is not None and load.error.ename == "WaitTimeout"
    assert load.reason == (
        "wait_for: timed out after 1.0 s; never appeared: drop/stripe-2026-11-20.csv"
    )
    assert load.error.evalue == load.reason
    assert load.duration is not None and load.duration >= 1.0
    assert tidy.status == StepStatus.SUCCEEDED


def test_wait_for_lists_fsspec_urls(project: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe("/finance/2026-11-20/stripe.csv", b"id\n1\n")
    folder = project / "workflows" / "remote"
    write_notebook(folder / "load.ipynb", "x = 1", OK)
    manifest = write_manifest(
        folder,
        """
        name: remote
        steps:
          - id: load
            notebook: load.ipynb
            wait_for: {paths: ["memory://finance/${{ run.date }}/*.csv"], timeout: 10m}
        """,
    )
    try:
        record = run(manifest)
    finally:
        memory.rm("/finance", recursive=True)

    assert record.step("load").status == StepStatus.SUCCEEDED


def test_ctrl_c_stops_a_wait_at_once(project: Path) -> None:
    folder = project / "workflows" / "never"
    write_notebook(folder / "load.ipynb", "x = 1", OK)
    write_manifest(
        folder,
        """
        name: never
        steps:
          - id: load
            notebook: load.ipynb
            wait_for: {paths: [drop/never.csv], timeout: 1h, every: 1h}
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "nbflow", "run", "never"], cwd=project, env=os.environ.copy()
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = list((project / "runs" / "never").glob("*/run.json"))
            if runs and "waiting for" in runs[0].read_text(encoding="utf-8"):
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=120)
    finally:
        process.kill()

    assert code == 130
    _, record = latest_run(project, "never")
    load = record.step("load")
    assert record.status == RunStatus.CANCELLED
    assert (load.status, load.reason) == (StepStatus.CANCELLED, "the run was interrupted")


# -- SLAs ----------------------------------------------------------------------------------


def test_sla_misses_are_notified_once_and_recorded(project: Path) -> None:
    folder = project / "workflows" / "slow"
    write_notebook(folder / "slow.ipynb", "x = 1", ["import time\ntime.sleep(3)"])
    write_notebook(folder / "quick.ipynb", "x = 1", OK)
    with serve_receiver() as receiver:
        manifest = write_manifest(
            folder,
            f"""
            name: slow
            sla: 1
            steps:
              - {{id: slow, notebook: slow.ipynb, sla: 1s}}
              - {{id: quick, notebook: quick.ipynb, sla: 1h}}
            notify:
              on_sla_miss: ["{receiver.url()}"]
            """,
        )

        record = run(manifest)

    assert record.status == RunStatus.SUCCEEDED  # a miss is not a failure
    misses = [(m.step, m.sla) for m in record.sla_misses]
    assert set(misses) == {(None, 1.0), ("slow", 1.0)} and len(misses) == 2
    titles = sorted(body["title"] for _, body in receiver.posts)
    assert titles == [
        "nbflow: slow: step 'slow' missed its SLA (1.0 s)",
        "nbflow: slow: the run missed its SLA (1.0 s)",
    ]
    assert all(body["type"] == "warning" for _, body in receiver.posts)
    run_dir = project / "runs" / "slow" / record.run_id
    saved = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert [m["step"] for m in saved["sla_misses"]] == [m[0] for m in misses]
    report = (run_dir / "README.md").read_text(encoding="utf-8")
    assert "## SLA missed" in report and "- the run was still going past its SLA of 1.0 s" in report
    assert render_report(record) == report


def test_a_run_within_its_sla_records_and_sends_nothing(project: Path) -> None:
    folder = project / "workflows" / "fast"
    write_notebook(folder / "quick.ipynb", "x = 1", OK)
    with serve_receiver() as receiver:
        manifest = write_manifest(
            folder,
            f"""
            name: fast
            sla: 1h
            steps:
              - {{id: quick, notebook: quick.ipynb, sla: 1h}}
            notify: {{on_sla_miss: ["{receiver.url()}"]}}
            """,
        )
        record = run(manifest)

    assert record.sla_misses == () and receiver.posts == []
    run_dir = project / "runs" / "fast" / record.run_id
    assert "sla_misses" not in json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
