"""Injected faults: signals, ``kill -9``, dying and hanging kernels, a held lock,
a crash while writing the record. Each test checks the run record and that no
kernel process outlives it (kernels inherit ``NBFLOW_TEST_MARKER`` from the
process that starts them, so they can be found even after it died)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbflow.cli import main
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.errors import WriteError
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunStatus, StepStatus, parse_time
from nbflow.store import runs
from nbflow.store.runs import read_record
from tests.helpers import (
    STOP_TIMEOUT,
    kernel_processes,
    latest_run,
    wait_for,
    wait_for_no_kernel_processes,
    write_manifest,
    write_notebook,
)

GATE = "import pathlib, time\npathlib.Path('{name}.started').write_text('yes')"
WAIT_WHILE_BLOCKED = "while pathlib.Path('block').exists():\n    time.sleep(0.1)"


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A marker in this test's kernels' environment; no kernel may outlive the test."""
    value = f"faults-{os.getpid()}-{tmp_path.name}"
    monkeypatch.setenv("NBFLOW_TEST_MARKER", value)
    yield value
    assert wait_for_no_kernel_processes(marker=value, timeout=30) == []


def start_cli(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nbflow", "run", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def three_steps(root: Path, name: str) -> Path:
    """first (quick) → two slow steps in parallel, blocked while ``block`` exists."""
    folder = root / "workflows" / name
    write_notebook(folder / "first.ipynb", None, ["import nbflow\nnbflow.record('done', 1)"])
    for slow in ("left", "right"):
        write_notebook(
            folder / f"{slow}.ipynb",
            None,
            [
                GATE.format(name=slow),
                WAIT_WHILE_BLOCKED,
                f"import nbflow\nnbflow.record('{slow}', 2)",
            ],
        )
    (folder / "block").write_text("")
    write_manifest(
        folder,
        f"""
        name: {name}
        steps:
          - {{id: first, notebook: first.ipynb}}
          - {{id: left, notebook: left.ipynb, needs: [first]}}
          - {{id: right, notebook: right.ipynb, needs: [first]}}
        """,
    )
    return folder


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_run_cancels_it(project: Path, marker: str, signum: int) -> None:
    folder = three_steps(project, "sig")
    proc = start_cli(project, "sig", "--jobs", "2")
    try:
        wait_for(folder / "left.started", proc)
        wait_for(folder / "right.started", proc)
        kernels = kernel_processes(parent=proc.pid)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=STOP_TIMEOUT)
    finally:
        proc.kill()

    assert len(kernels) == 2, kernels
    assert proc.returncode == 130, err
    run_dir, record = latest_run(project, "sig")
    assert out == f"{run_dir}\n", err
    assert record.status == RunStatus.CANCELLED, record
    first, left, right = record.steps
    assert first.status == StepStatus.SUCCEEDED and first.outputs == {"done": 1}
    assert (run_dir / "first.ipynb").is_file()
    for step in (left, right):
        assert step.status == StepStatus.CANCELLED, (step, err)
        assert step.error is not None and step.error.ename == "Cancelled", (step, err)
        assert [a.status for a in step.attempts] == [StepStatus.CANCELLED], (step, err)
        assert (run_dir / f"{step.id}.ipynb").is_file()
    assert kernel_processes(marker=marker, templates=True) == []  # stopped before nbflow exited


def test_kill_9_leaves_no_kernel_and_the_run_resumes(
    project: Path, marker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = three_steps(project, "crash")
    proc = start_cli(project, "crash", "--jobs", "2")
    try:
        wait_for(folder / "left.started", proc)
        wait_for(folder / "right.started", proc)
        run_dir, before = latest_run(project, "crash")
        kernels = kernel_processes(parent=proc.pid)
        assert len(kernels) == 2
        proc.kill()  # SIGKILL: no handler runs
        proc.wait(timeout=10)
    finally:
        proc.kill()
    killed = time.monotonic()

    assert wait_for_no_kernel_processes(marker=marker, timeout=30) == []
    assert time.monotonic() - killed < 30  # they block until told: they died with nbflow
    assert before.status == RunStatus.RUNNING
    assert main(["runs", "crash"]) == 0
    listed = capsys.readouterr().out
    assert f"{before.run_id}  crash" in listed and " interrupted " in listed
    first_notebook = run_dir / "first.ipynb"
    kept = first_notebook.read_bytes(), first_notebook.stat().st_mtime_ns

    (folder / "block").unlink()
    assert main(["run", "--resume", before.run_id]) == 0

    record = read_record(run_dir)
    assert record.status == RunStatus.SUCCEEDED
    assert record.run_id == before.run_id
    first, left, right = record.steps
    assert (first_notebook.read_bytes(), first_notebook.stat().st_mtime_ns) == kept
    assert [a.status for a in first.attempts] == [StepStatus.SUCCEEDED]
    assert first.attempts == before.step("first").attempts
    for step in (left, right):
        # the attempt kill -9 cut short, then the one that finished it
        assert [(a.number, a.status) for a in step.attempts] == [
            (1, StepStatus.CANCELLED),
            (2, StepStatus.SUCCEEDED),
        ]
        assert step.attempts[0].error is not None
        assert step.attempts[0].error.evalue == "the run was interrupted (its process is gone)"
        assert step.outputs == {step.id: 2}
    assert list(run_dir.glob(".*.tmp")) == []


def test_a_step_resumed_after_kill_9_takes_its_attempts_time_not_the_idle_gap(
    project: Path, marker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "gap"
    write_notebook(folder / "slow.ipynb", None, [GATE.format(name="slow"), WAIT_WHILE_BLOCKED])
    (folder / "block").write_text("")
    write_manifest(folder, "name: gap\nsteps:\n  - {id: slow, notebook: slow.ipynb}\n")
    proc = start_cli(project, "gap")
    try:
        wait_for(folder / "slow.started", proc)
        time.sleep(1.5)  # the attempt runs at least this long
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.kill()
    run_dir, before = latest_run(project, "gap")
    time.sleep(2.0)  # nothing runs: this is no step's time
    (folder / "block").unlink()
    capsys.readouterr()

    assert main(["run", "--resume", before.run_id]) == 0

    slow = read_record(run_dir).step("slow")
    cut, last = slow.attempts
    assert [(a.number, a.status) for a in slow.attempts] == [
        (1, StepStatus.CANCELLED),
        (2, StepStatus.SUCCEEDED),
    ]
    assert cut.duration >= 1.5, cut  # the time it ran until kill -9, not ~0
    assert cut.end <= last.start
    # the attempts' time, plus this process's own bookkeeping (milliseconds, more on a
    # loaded machine), never the 2 s idle gap between the two processes
    attempts = cut.duration + last.duration
    assert attempts - 0.002 <= slow.duration < attempts + 1.0
    assert slow.end is not None and slow.start is not None
    wall = (parse_time(slow.end) - parse_time(slow.start)).total_seconds()
    assert slow.duration <= wall - 2.0  # the idle gap between the processes is left out
    lines = [line for line in capsys.readouterr().err.splitlines() if " slow " in line]
    assert lines == [
        "▶ slow running (attempt 2)",
        f"✓ slow succeeded {slow.duration:.1f} s (attempt 2)",
    ]


def test_kill_9_stops_a_kernel_busy_in_c_code(project: Path, marker: str) -> None:
    """ipykernel's parent poller is a thread: it cannot run while the kernel's main
    thread holds the GIL. PR_SET_PDEATHSIG (Linux) stops such a kernel too."""
    folder = blocked_workflow(project, "gil")
    write_notebook(folder / "only.ipynb", None, [GATE.format(name="only"), "sum(range(10**12))"])
    proc = start_cli(project, "gil")
    try:
        wait_for(folder / "only.started", proc)
        time.sleep(0.5)  # into the long C call
        assert len(kernel_processes(parent=proc.pid)) == 1
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.kill()

    assert wait_for_no_kernel_processes(marker=marker, timeout=30) == []


KERNEL_DEATHS = {
    "os._exit": "import os\nos._exit(1)",
    "SIGSEGV": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
    "SIGKILL (out-of-memory killer)": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
}


@pytest.mark.parametrize("cell", KERNEL_DEATHS.values(), ids=KERNEL_DEATHS.keys())
def test_dead_kernel_fails_every_attempt_with_backoff(
    project: Path, marker: str, cell: str
) -> None:
    folder = project / "workflows" / "die"
    write_notebook(folder / "die.ipynb", None, ["x = 1", cell, "never = True"])
    manifest = write_manifest(
        folder,
        """
        name: die
        steps:
          - {id: die, notebook: die.ipynb, retries: 2, retry_delay: 300ms, timeout: 60s}
        """,
    )

    started = time.monotonic()
    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    # unnoticed, each death would wait out the 60 s timeout (180 s for three attempts)
    assert time.monotonic() - started < 120
    assert record.status == RunStatus.FAILED
    step = record.step("die")
    assert step.status == StepStatus.FAILED
    assert [(a.number, a.status) for a in step.attempts] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.FAILED),
        (3, StepStatus.FAILED),
    ]
    for attempt in step.attempts:
        assert attempt.error is not None
        assert attempt.error.ename == "DeadKernelError"
        assert attempt.error.evalue.startswith("the kernel died")
        assert attempt.error.cell == 1
    assert_backoff(step.attempts, 0.3)


def assert_backoff(attempts: tuple, delay: float) -> None:
    """Each retry waited ``delay``, doubled after each attempt."""
    for index in range(1, len(attempts)):
        waited = parse_time(attempts[index].start) - parse_time(attempts[index - 1].end)
        expected = delay * 2 ** (index - 1)
        assert expected <= waited.total_seconds() < expected + 2, (index, waited)


def test_memory_limit_fails_the_step_with_memory_error(project: Path, marker: str) -> None:
    folder = project / "workflows" / "oom"
    write_notebook(
        folder / "oom.ipynb",
        None,
        [
            "import resource\n"
            "resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, resource.RLIM_INFINITY))",
            "hog = bytearray(4 * 1024**3)",
        ],
    )
    manifest = write_manifest(
        folder, "name: oom\nsteps:\n  - {id: oom, notebook: oom.ipynb, timeout: 20s}\n"
    )

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    step = record.step("oom")
    assert step.status == StepStatus.FAILED
    assert step.error is not None
    assert (step.error.ename, step.error.cell) == ("MemoryError", 1)
    assert len(step.attempts) == 1


def test_hung_cell_times_out_on_every_attempt(project: Path, marker: str) -> None:
    folder = project / "workflows" / "hang"
    write_notebook(folder / "hang.ipynb", None, ["import time", "time.sleep(600)"])
    # 8 s: time for each attempt's kernel to reach the sleeping cell on a loaded machine
    manifest = write_manifest(
        folder,
        """
        name: hang
        steps:
          - {id: hang, notebook: hang.ipynb, timeout: 8s, retries: 1, retry_delay: 200ms}
        """,
    )

    started = time.monotonic()
    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))
    took = time.monotonic() - started

    assert 16 <= took < 120  # two 8 s attempts, cut far short of the 600 s sleep
    step = record.step("hang")
    assert step.status == StepStatus.FAILED
    assert [(a.number, a.status) for a in step.attempts] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.FAILED),
    ]
    for attempt in step.attempts:
        assert attempt.error is not None
        assert (attempt.error.ename, attempt.error.evalue, attempt.error.cell) == (
            "Timeout",
            "timed out after 8 s",
            1,
        )
        assert 8 <= attempt.duration < 60
    assert_backoff(step.attempts, 0.2)


def blocked_workflow(root: Path, name: str, seconds: float = 0) -> Path:
    folder = root / "workflows" / name
    wait = f"time.sleep({seconds})" if seconds else WAIT_WHILE_BLOCKED
    cells = [GATE.format(name="only"), wait]
    write_notebook(folder / "only.ipynb", None, cells)
    write_manifest(folder, f"name: {name}\nsteps:\n  - {{id: only, notebook: only.ipynb}}\n")
    return folder


def test_second_run_of_a_workflow_is_refused_while_the_first_runs(
    project: Path, marker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = blocked_workflow(project, "busy")
    (folder / "block").write_text("")
    proc = start_cli(project, "busy")
    try:
        wait_for(folder / "only.started", proc)
        code = main(["run", "busy"])
        err = capsys.readouterr().err
        (folder / "block").unlink()
        out, first_err = proc.communicate(timeout=30)
    finally:
        proc.kill()

    assert code == 75  # busy: try later (EX_TEMPFAIL)
    assert err.splitlines()[-1] == (
        f"error: busy: another run of this workflow is in progress (pid {proc.pid}); "
        "wait for it to finish, or stop it, then run again"
    )
    assert proc.returncode == 0, first_err
    assert [p.name for p in (project / "runs" / "busy").glob("20*")] == [Path(out.strip()).name]


def test_different_workflows_run_side_by_side(project: Path, marker: str) -> None:
    for name in ("one", "two"):
        blocked_workflow(project, name, seconds=2)
    procs = [start_cli(project, name) for name in ("one", "two")]
    try:
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            p.kill()

    assert [p.returncode for p in procs] == [0, 0], results
    (_, one), (_, two) = latest_run(project, "one"), latest_run(project, "two")
    a, b = one.step("only"), two.step("only")
    assert a.start is not None and a.end is not None and b.start is not None and b.end is not None
    assert a.start < b.end and b.start < a.end  # they overlapped in time


def test_crash_while_writing_the_record_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from nbflow.run_record import RunRecord

    run_dir = tmp_path / "run"
    record = RunRecord(
        workflow="w",
        run_id="2026-11-23T000000Z-ab12",
        status=RunStatus.RUNNING,
        trigger="manual",
        start="2026-11-23T00:00:00.000Z",
    )
    runs.write_record(run_dir, record)
    before = (run_dir / "run.json").read_bytes()

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.os, "replace", crash)
    with pytest.raises(WriteError) as raised:
        runs.write_record(run_dir, replace(record, status=RunStatus.SUCCEEDED))
    monkeypatch.undo()

    assert str(raised.value) == f"cannot write {run_dir / 'run.json'}: No space left on device"
    assert (run_dir / "run.json").read_bytes() == before
    assert json.loads(before)["status"] == "running"
    assert read_record(run_dir) == record
    assert sorted(p.name for p in run_dir.iterdir()) == ["run.json"]


def test_crash_mid_write_of_the_text_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run" / "README.md"
    runs.write_atomic(path, "old\n")

    class Interrupted(BaseException):
        pass

    real_fdopen = os.fdopen

    def failing_fdopen(*args: object, **kwargs: object) -> object:
        handle = real_fdopen(*args, **kwargs)  # type: ignore[arg-type]

        def write(text: str) -> int:
            handle.buffer.write(text[: len(text) // 2].encode())
            handle.flush()
            raise Interrupted  # as a signal handler's KeyboardInterrupt would

        handle.write = write  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr(runs.os, "fdopen", failing_fdopen)
    with pytest.raises(Interrupted):
        runs.write_atomic(path, "new text, long enough to be cut in half\n")
    monkeypatch.undo()

    assert path.read_text() == "old\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["README.md"]
