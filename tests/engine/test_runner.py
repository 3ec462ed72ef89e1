"""The runner: a whole run through real kernels, from manifest to run folder.

Each test builds a tiny workflow in ``tmp_path`` and runs it with
``run_workflow(load_manifest(...), RunOptions(...))`` or ``nbflow.cli.main``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    STOP_TIMEOUT,
    cell_outputs,
    chain_workflow,
    injected_parameters,
    latest_run,
    wait_for,
    wait_until_no_kernels,
    write_manifest,
    write_notebook,
)

from nbflow.cli import main
from nbflow.engine.locks import workflow_lock
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.engine.step import StepResult
from nbflow.errors import RunLockedError
from nbflow.manifest.load import load_manifest
from nbflow.report.run_report import render_report
from nbflow.run_record import RunStatus, StepError, StepStatus, parse_time
from nbflow.store.runs import read_record

NOW = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_three_step_chain_records_the_run(project: Path) -> None:
    manifest = chain_workflow(project / "workflows" / "chain")

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1, now=NOW))

    run_dir = project / "runs" / "chain" / record.run_id
    data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"2026-11-20T063000Z-[0-9a-f]{4}", data["run_id"])
    assert data["workflow"] == "chain"
    assert data["status"] == "succeeded"
    assert data["trigger"] == "manual"
    assert data["commit"] is None
    assert data["manifest"] == "workflows/chain/workflow.yaml"
    assert data["parameters"] == {"limit": 3, "label": "hello"}
    assert ISO.match(data["start"]) and ISO.match(data["end"])
    assert data["start"] <= data["end"]
    assert [s["id"] for s in data["steps"]] == ["a", "b", "c"]
    for step in data["steps"]:
        assert step["status"] == "succeeded"
        assert step["notebook"] == f"{step['id']}.ipynb"
        assert len(step["attempts"]) == 1 and step["attempts"][0]["status"] == "succeeded"
        assert ISO.match(step["start"]) and ISO.match(step["end"])
        elapsed = (parse_time(step["end"]) - parse_time(step["start"])).total_seconds()
        assert step["duration"] == pytest.approx(elapsed, abs=0.002)
        assert (run_dir / step["notebook"]).is_file()
    a, b, c = data["steps"]
    assert a["end"] <= b["start"] and b["end"] <= c["start"]
    assert a["parameters"] == {"n": 3} and a["outputs"] == {"total": 6}
    assert b["parameters"] == {"count": 6, "run_id": record.run_id}
    assert b["outputs"] == {"count_type": "int", "count": 7, "run_id": record.run_id}
    assert c["parameters"] == {"label": "hello", "greeting": "hello on 2026-11-20"}
    assert c["outputs"] == {"label": "hello", "greeting": "hello on 2026-11-20"}
    assert injected_parameters(run_dir / "b.ipynb") == (
        f'# Parameters\ncount = 6\nrun_id = "{record.run_id}"\n'
    )
    report = (run_dir / "README.md").read_text(encoding="utf-8")
    assert report.splitlines()[0] == f"# ✅ chain succeeded · run `{record.run_id}`"
    assert report == render_report(read_record(run_dir))
    assert record.status == RunStatus.SUCCEEDED


def test_run_records_the_head_commit_inside_git(project: Path) -> None:
    folder = project / "workflows" / "one"
    write_notebook(folder / "only.ipynb", "x = 1", ["x"])
    manifest = write_manifest(folder, "name: one\nsteps:\n  - id: only\n    notebook: only.ipynb\n")
    git = [
        "git",
        "-c",
        "user.name=Test",
        "-c",
        "user.email=test@example.com",
        "-c",
        "commit.gpgsign=false",
    ]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=project, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, check=True, capture_output=True, text=True
    ).stdout.strip()

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    assert record.status == RunStatus.SUCCEEDED
    assert record.commit == head
    _, stored = latest_run(project, "one")
    assert stored.commit == head


def test_failing_cell_fails_the_run_and_skips_its_dependants(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "broken"
    write_notebook(
        folder / "a.ipynb",
        "x = 1",
        ["y = x + 1", "raise ValueError(f'bad input {y * 21}')", "never = True"],
    )
    write_notebook(folder / "b.ipynb", None, ["1"])
    write_notebook(folder / "c.ipynb", None, ["1"])
    write_notebook(folder / "d.ipynb", None, ["import nbflow\nnbflow.record('ok', True)"])
    write_manifest(
        folder,
        """
        name: broken
        steps:
          - {id: a, notebook: a.ipynb}
          - {id: b, notebook: b.ipynb}
          - {id: c, notebook: c.ipynb}
          - {id: d, notebook: d.ipynb, needs: []}
        """,
    )

    code = main(["run", "broken", "--jobs", "2"])

    assert code == 1
    run_dir, record = latest_run(project, "broken")
    assert capsys.readouterr().out == f"{run_dir}\n"
    assert record.status == RunStatus.FAILED
    a, b, c, d = record.steps
    assert (a.status, b.status, c.status, d.status) == (
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.SKIPPED,
        StepStatus.SUCCEEDED,
    )
    assert a.error is not None
    assert (a.error.cell, a.error.ename, a.error.evalue) == (2, "ValueError", "bad input 42")
    assert "ValueError" in a.error.traceback
    assert b.reason == "needs 'a', which failed"
    assert c.reason == "needs 'b', which skipped"
    assert (b.notebook, c.notebook) == ("", "")
    assert d.outputs == {"ok": True}
    errors = [
        o
        for o in cell_outputs(run_dir / "a.ipynb", "raise ValueError")
        if o["output_type"] == "error"
    ]
    assert [(o["ename"], o["evalue"]) for o in errors] == [("ValueError", "bad input 42")]
    assert cell_outputs(run_dir / "a.ipynb", "never") == []
    assert not (run_dir / "b.ipynb").exists()


def test_step_retried_after_a_failed_attempt_succeeds(project: Path) -> None:
    folder = project / "workflows" / "flaky"
    write_notebook(
        folder / "flaky.ipynb",
        None,
        [
            "from pathlib import Path\n"
            "counter = Path('attempts.txt')\n"
            "attempt = int(counter.read_text()) + 1 if counter.exists() else 1\n"
            "counter.write_text(str(attempt))\n"
            "if attempt == 1:\n"
            "    raise RuntimeError('first attempt fails')",
        ],
    )
    manifest = write_manifest(
        folder,
        """
        name: flaky
        steps:
          - {id: flaky, notebook: flaky.ipynb, retries: 2, retry_delay: 700ms}
        """,
    )

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    assert record.status == RunStatus.SUCCEEDED
    step = record.step("flaky")
    assert step.status == StepStatus.SUCCEEDED
    assert [(a.number, a.status) for a in step.attempts] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.SUCCEEDED),
    ]
    first, second = step.attempts
    assert first.error is not None
    assert (first.error.ename, first.error.evalue) == ("RuntimeError", "first attempt fails")
    assert step.error is None
    waited = (parse_time(second.start) - parse_time(first.end)).total_seconds()
    assert waited >= 0.7
    assert (step.start, step.end) == (first.start, second.end)
    assert (folder / "attempts.txt").read_text() == "2"


def test_retry_waits_double_from_retry_delay(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The waits the runner takes before each retry, as it logs them (not wall time,
    which a loaded machine stretches): 0.1 s, then 0.2 s, then 0.4 s."""
    folder = project / "workflows" / "flaky"
    write_notebook(folder / "flaky.ipynb", None, ["1"])
    manifest = write_manifest(
        folder,
        "name: flaky\nsteps:\n  - {id: flaky, notebook: flaky.ipynb, retries: 3, "
        "retry_delay: 100ms}\n",
    )

    def failing(task: Any, handle: Any, cancelled: Any) -> StepResult:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return StepResult(StepStatus.FAILED, now, now, 0.0, StepError("OSError", "flaky"))

    caplog.set_level(logging.INFO, logger="nbflow.engine.attempts")
    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1), executor=failing)

    assert [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()] == [
        "flaky: retrying in 0.1 s (attempt 2 of 4)",
        "flaky: retrying in 0.2 s (attempt 3 of 4)",
        "flaky: retrying in 0.4 s (attempt 4 of 4)",
    ]
    attempts = record.step("flaky").attempts
    ends = [parse_time(attempt.end) for attempt in attempts[:-1]]
    starts = [parse_time(attempt.start) for attempt in attempts[1:]]
    waited = [(start - end).total_seconds() for start, end in zip(starts, ends, strict=True)]
    # and they were waited for (times are recorded to the millisecond)
    assert all(w > wait - 0.002 for w, wait in zip(waited, (0.1, 0.2, 0.4), strict=True)), waited


def test_second_run_while_the_lock_is_held_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "locked"
    write_notebook(folder / "only.ipynb", None, ["1"])
    manifest = write_manifest(
        folder, "name: locked\nsteps:\n  - {id: only, notebook: only.ipynb}\n"
    )
    message = (
        f"locked: another run of this workflow is in progress (pid {os.getpid()}); "
        "wait for it to finish, or stop it, then run again"
    )

    with workflow_lock(project / "runs", "locked"):
        with pytest.raises(RunLockedError) as exc:
            run_workflow(load_manifest(manifest), RunOptions(jobs=1))
        code = main(["run", "locked"])

    assert str(exc.value) == message
    assert code == 75  # busy: try later (EX_TEMPFAIL)
    assert capsys.readouterr().err.splitlines()[-1] == f"error: {message}"
    assert not list((project / "runs" / "locked").glob("20*"))


def through_a_step_not_selected(folder: Path, fail: bool = False) -> Any:
    """make (slow, writes made.txt) -> count (records a number) -> use (reads the
    file): ``use`` reaches ``make`` only through ``count``."""
    write_notebook(
        folder / "make.ipynb",
        "fail = False",
        ["import time\ntime.sleep(1)\nassert not fail\nopen('made.txt', 'w').write('made')"],
    )
    write_notebook(folder / "count.ipynb", None, ["import nbflow\nnbflow.record('n', 1)"])
    write_notebook(folder / "use.ipynb", "n = 0", ["assert open('made.txt').read() == 'made'\nn"])
    manifest = write_manifest(
        folder,
        """
        name: through
        parameters: {fail: {type: bool, default: false}}
        steps:
          - {id: make, notebook: make.ipynb, parameters: {fail: "${{ params.fail }}"}}
          - {id: count, notebook: count.ipynb}
          - {id: use, notebook: use.ipynb, parameters: {n: "${{ steps.count.outputs.n }}"}}
        """,
    )
    return load_manifest(manifest)


@pytest.mark.parametrize("fail", [False, True], ids=["make succeeds", "make fails"])
def test_a_step_waits_for_selected_steps_behind_one_not_selected(project: Path, fail: bool) -> None:
    workflow = through_a_step_not_selected(project / "workflows" / "through")
    assert run_workflow(workflow, RunOptions(now=NOW)).status == RunStatus.SUCCEEDED
    (workflow.directory / "made.txt").unlink()

    options = RunOptions(jobs=2, steps=["make", "use"], parameters={"fail": fail})
    record = run_workflow(workflow, replace(options, now=NOW.replace(minute=1)))

    make, count, use = record.steps
    assert count.status == StepStatus.SKIPPED
    if fail:
        assert (make.status, use.status) == (StepStatus.FAILED, StepStatus.SKIPPED)
        assert use.reason == "needs 'make', which failed"
    else:  # use started only once make had written the file
        assert (make.status, use.status) == (StepStatus.SUCCEEDED, StepStatus.SUCCEEDED)
        assert use.start is not None and make.end is not None and use.start >= make.end


def _pick(project: Path) -> Any:
    """a (records x = n * 10) → b (receives x); n a workflow parameter, default 1."""
    folder = project / "workflows" / "pick"
    write_notebook(folder / "a.ipynb", "n = 0", ["import nbflow\nnbflow.record('x', n * 10)"])
    write_notebook(folder / "b.ipynb", "x = 0", ["import nbflow\nnbflow.record('got', x)"])
    manifest = write_manifest(
        folder,
        """
        name: pick
        parameters:
          n: {type: int, default: 1}
        steps:
          - {id: a, notebook: a.ipynb, parameters: {n: "${{ params.n }}"}}
          - {id: b, notebook: b.ipynb, parameters: {x: "${{ steps.a.outputs.x }}"}}
        """,
    )
    return load_manifest(manifest)


def _runs_of_a(workflow: Any) -> Any:
    """Two runs of step a alone, with n=1 then n=2; the latest record."""
    for minute, n in ((1, 1), (2, 2)):  # distinct clocks: run ids sort by their time
        options = RunOptions(
            jobs=1, steps=["a"], parameters={"n": n}, now=NOW.replace(minute=minute)
        )
        latest = run_workflow(workflow, options)
        assert latest.status == RunStatus.SUCCEEDED
    return latest


def test_selected_step_reuses_outputs_of_the_latest_successful_run(project: Path) -> None:
    workflow = _pick(project)
    latest = _runs_of_a(workflow)

    options = RunOptions(jobs=1, steps=["b"], parameters={"n": 2}, now=NOW.replace(minute=3))
    record = run_workflow(workflow, options)

    assert record.status == RunStatus.SUCCEEDED
    a, b = record.steps
    reason = f"not selected; outputs from run {latest.run_id}"
    assert (a.status, a.reason, a.attempts) == (StepStatus.SKIPPED, reason, ())
    assert b.status == StepStatus.SUCCEEDED
    assert b.parameters == {"x": 20}
    assert b.outputs == {"got": 20}
    run_dir = project / "runs" / "pick" / record.run_id
    assert sorted(p.name for p in run_dir.glob("*.ipynb")) == ["b.ipynb"]
    assert "Run though not selected" not in (run_dir / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("change", ["parameter", "notebook"])
def test_a_step_not_selected_runs_when_its_last_result_is_not_what_it_would_give_now(
    project: Path, change: str
) -> None:
    workflow = _pick(project)
    latest = _runs_of_a(workflow)
    n = 1 if change == "parameter" else 2
    if change == "notebook":
        write_notebook(
            workflow.directory / "a.ipynb", "n = 0", ["import nbflow\nnbflow.record('x', n * 100)"]
        )

    options = RunOptions(jobs=1, steps=["b"], parameters={"n": n}, now=NOW.replace(minute=3))
    record = run_workflow(workflow, options)

    assert record.status == RunStatus.SUCCEEDED
    a, b = record.steps
    why = {
        "parameter": f"its last result was for n=2 (run {latest.run_id})",
        "notebook": "its notebook, inputs or upstream outputs changed since its last result "
        f"(run {latest.run_id})",
    }[change]
    assert (a.status, a.reason, len(a.attempts)) == (
        StepStatus.SUCCEEDED,
        f"run though not selected: {why}",
        1,
    )
    x = {"parameter": 10, "notebook": 200}[change]
    assert (a.outputs, b.parameters, b.outputs) == ({"x": x}, {"x": x}, {"got": x})
    report = (project / "runs" / "pick" / record.run_id / "README.md").read_text(encoding="utf-8")
    assert f"## Run though not selected\n\n- ran `a`: {why}\n" in report


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_is_cancelled(project: Path, signum: int) -> None:
    folder = project / "workflows" / "stop"
    write_notebook(folder / "first.ipynb", None, ["import nbflow\nnbflow.record('done', 1)"])
    write_notebook(
        folder / "slow.ipynb",
        None,
        # the marker is written by the cell that sleeps, so that cell is surely running
        ["import pathlib, time", "pathlib.Path('started.txt').write_text('yes')\ntime.sleep(600)"],
    )
    write_notebook(folder / "after.ipynb", None, ["1"])
    write_manifest(
        folder,
        """
        name: stop
        steps:
          - {id: first, notebook: first.ipynb}
          - {id: slow, notebook: slow.ipynb}
          - {id: after, notebook: after.ipynb}
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbflow", "run", "stop", "--jobs", "1"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(folder / "started.txt", proc)
        run_dir, running = latest_run(project, "stop")
        assert running.step("slow").status == StepStatus.RUNNING
        proc.send_signal(signum)
        # the step sleeps 600 s: ending within STOP_TIMEOUT, the signal stopped it
        out, err = proc.communicate(timeout=STOP_TIMEOUT)
    finally:
        proc.kill()

    assert proc.returncode == 130, err
    assert out == f"{run_dir}\n"
    record = read_record(run_dir)
    assert record.status == RunStatus.CANCELLED
    first, slow, after = record.steps
    assert first.status == StepStatus.SUCCEEDED and first.outputs == {"done": 1}
    assert (run_dir / "first.ipynb").is_file()
    assert slow.status == StepStatus.CANCELLED
    assert slow.error is not None
    assert (slow.error.ename, slow.error.evalue) == (
        "Cancelled",
        "cancelled: the run was interrupted",
    )
    # the sleeping cell, or (when the signal beat papermill's last save) the one before it
    assert slow.error.cell in (0, 1)
    assert (run_dir / "slow.ipynb").is_file()
    assert (after.status, after.reason) == (StepStatus.CANCELLED, "the run was interrupted")
    assert record.end is not None
    assert wait_until_no_kernels(record.run_id) == []


LOST = "2026-11-20T063000Z-0003"


def test_a_step_that_left_no_notebook_records_and_links_none(tmp_path: Path) -> None:
    """As when a Dask worker is lost past ``allowed-failures``: the executor returns a
    failure without having written the executed notebook."""
    from nbflow.engine.step import StepResult, execute_step
    from nbflow.run_record import StepError, StepStatus, utc_now

    folder = tmp_path / "workflows" / "lost"
    write_notebook(folder / "quick.ipynb", None, ["1"])
    write_notebook(folder / "slow.ipynb", None, ["1"])
    workflow = load_manifest(
        write_manifest(
            folder,
            """
            name: lost
            steps:
              - id: quick
                notebook: quick.ipynb
              - id: slow
                notebook: slow.ipynb
              - id: each
                notebook: slow.ipynb
                foreach: [a]
                needs: [quick]
            """,
        )
    )

    def executor(task: Any, handle: Any, cancelled: Any) -> StepResult:
        if task.step_id == "quick":
            return execute_step(task, handle, cancelled)
        now = utc_now()
        return StepResult(StepStatus.FAILED, now, now, 0.0, StepError("KilledWorker", "lost"))

    record = run_workflow(workflow, RunOptions(run_id=LOST), executor=executor)

    run_dir = tmp_path / "runs" / "lost" / LOST
    assert sorted(p.name for p in run_dir.iterdir()) == ["README.md", "quick.ipynb", "run.json"]
    assert [s.notebook for s in record.steps] == ["quick.ipynb", "", ""]
    assert record.step("each").items[0].notebook == ""
    links = re.findall(r"\]\(([^)]+\.ipynb)\)", (run_dir / "README.md").read_text())
    assert set(links) == {"quick.ipynb"}
