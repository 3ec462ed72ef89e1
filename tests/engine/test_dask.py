"""Steps on a real Dask cluster: ``LocalCluster(n_workers=2, processes=True,
threads_per_worker=1)``, shared by the tests of this module (the one that kills a
worker runs last: the nanny restarts it)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    branching_workflow,
    comparable,
    sweep_workflow,
    wait_until_no_kernels,
    write_manifest,
    write_notebook,
)

from nbflow.cli import main
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunStatus, StepStatus
from nbflow.store.runs import read_record

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

from nbflow.engine.dask import DaskExecutor  # noqa: E402

LOCAL, DASK = "2026-11-20T063000Z-0001", "2026-11-20T063000Z-0002"

# Run on their own, after the parallel suite (see .ci/run): a cluster of worker
# processes plus their kernels, next to another test worker starting kernels, starves
# a 2-core machine until kernels miss their 60 s start-up limit.
pytestmark = pytest.mark.serial


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


def test_a_workflow_on_dask_records_what_a_local_run_does(project: Path, client: Any) -> None:
    workflow = load_manifest(branching_workflow(project / "workflows" / "branching"))
    local = run_workflow(workflow, RunOptions(run_id=LOCAL, parameters={"label": "hi"}))

    record = run_workflow(
        workflow,
        RunOptions(run_id=DASK, parameters={"label": "hi"}),
        executor=DaskExecutor(client),
    )

    assert comparable(record) == comparable(local)
    assert record.status == local.status == RunStatus.FAILED
    runs = project / "runs" / "branching"
    for step in ["a", "b", "c", "d", "f"]:
        dask_nb = (runs / DASK / f"{step}.ipynb").read_text(encoding="utf-8")
        assert dask_nb.replace(DASK, LOCAL) == (runs / LOCAL / f"{step}.ipynb").read_text()
    assert (runs / DASK / "README.md").is_file()


def test_a_sweep_on_dask_records_what_a_local_run_does(project: Path, client: Any) -> None:
    manifest = sweep_workflow(project / "workflows" / "sweep", "[eu, boom, apac, us]")
    workflow = load_manifest(manifest)
    local = run_workflow(workflow, RunOptions(run_id=LOCAL, jobs=2))

    record = run_workflow(workflow, RunOptions(run_id=DASK, jobs=2), executor=DaskExecutor(client))

    def items(record: Any) -> list[tuple[Any, ...]]:
        return [
            (i.value, i.status, i.notebook, i.parameters, i.outputs, i.error and i.error.summary)
            for i in record.step("region").items
        ]

    assert comparable(record) == comparable(local)
    assert items(record) == items(local)
    assert record.step("region").status == StepStatus.FAILED
    runs = project / "runs" / "sweep"
    for index in range(4):
        dask_nb = (runs / DASK / f"region.{index}.ipynb").read_text(encoding="utf-8")
        assert dask_nb.replace(DASK, LOCAL) == (runs / LOCAL / f"region.{index}.ipynb").read_text()


def test_nbflow_run_executor_dask(project: Path, client: Any) -> None:
    branching_workflow(project / "workflows" / "branching")
    address = client.scheduler.address

    code = main(
        ["run", "branching", "--executor", "dask", "--scheduler", address, "--run-id", DASK]
    )

    assert code == 1  # d fails
    record = read_record(project / "runs" / "branching" / DASK)
    assert [s.status.value for s in record.steps] == [
        "succeeded",
        "succeeded",
        "succeeded",
        "failed",
        "skipped",
        "succeeded",
    ]


def test_nbflow_run_executor_dask_starts_a_local_cluster(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "one"
    write_notebook(
        folder / "only.ipynb", None, ["import nbflow, os\nnbflow.record('cwd', os.getcwd())"]
    )
    write_manifest(folder, "name: one\nsteps:\n  - id: only\n    notebook: only.ipynb\n")

    assert main(["run", "one", "--executor", "dask", "--run-id", DASK]) == 0

    record = read_record(project / "runs" / "one" / DASK)
    assert record.step("only").outputs == {"cwd": str(folder)}
    # distributed's INFO lines (scheduler, nanny, worker start and stop) stay out
    assert [line for line in capsys.readouterr().err.splitlines() if "distributed" in line] == []


def test_scheduler_needs_executor_dask(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    branching_workflow(project / "workflows" / "branching")

    assert main(["run", "branching", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == "error: --scheduler is for --executor dask\n"


def sleeper(project: Path, name: str, timeout: str = "") -> Path:
    """One step writing its kernel's pid and parent pid to ``pids``, then sleeping."""
    folder = project / "workflows" / name
    write_notebook(
        folder / "slow.ipynb",
        "seconds = 600",
        [
            "import os, pathlib, time\n"
            "with open('pids', 'a') as f:\n"
            "    f.write(f'{os.getpid()} {os.getppid()}\\n')\n"
            "time.sleep(seconds)"
        ],
    )
    write_notebook(folder / "quick.ipynb", None, ["1"])
    return write_manifest(
        folder,
        f"""
        name: {name}
        steps:
          - id: quick
            notebook: quick.ipynb
          - id: slow
            notebook: slow.ipynb
            needs: [quick]
            {timeout}
          - id: after
            notebook: quick.ipynb
            needs: [slow]
        """,
    )


def wait_for_pids(folder: Path, lines: int = 1, timeout: float = 20) -> list[tuple[int, int]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (folder / "pids").is_file():
            found = (folder / "pids").read_text().split("\n")[:-1]
            if len(found) >= lines:
                return [(int(k), int(p)) for k, p in (line.split() for line in found)]
        time.sleep(0.1)
    raise AssertionError(f"the step did not start within {timeout} s")


def test_a_step_timeout_kills_the_kernel_on_the_worker(project: Path, client: Any) -> None:
    workflow = load_manifest(sleeper(project, "timeout", "timeout: 1s"))

    record = run_workflow(workflow, RunOptions(run_id=DASK), executor=DaskExecutor(client))

    slow = record.step("slow")
    assert slow.status == StepStatus.FAILED
    assert slow.error is not None
    assert (slow.error.ename, slow.error.evalue) == ("Timeout", "timed out after 1 s")
    assert record.step("after").reason == "needs 'slow', which failed"
    assert wait_until_no_kernels(DASK) == []


def test_cancelling_a_run_kills_the_kernel_on_the_worker(project: Path, client: Any) -> None:
    workflow = load_manifest(sleeper(project, "cancel"))
    folder = project / "workflows" / "cancel"

    def interrupt() -> None:
        wait_for_pids(folder)
        os.kill(os.getpid(), signal.SIGTERM)  # the runner treats it as Ctrl-C

    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    record = run_workflow(workflow, RunOptions(run_id=DASK), executor=DaskExecutor(client))

    assert time.monotonic() - started < 120  # the step sleeps 600 s: it was cut short
    assert record.status == RunStatus.CANCELLED
    slow = record.step("slow")
    assert slow.status == StepStatus.CANCELLED
    assert slow.error is not None and slow.error.ename == "Cancelled"
    assert record.step("after").status == StepStatus.CANCELLED
    assert wait_until_no_kernels(DASK) == []


def test_a_step_whose_worker_is_killed_runs_again_on_another(project: Path, client: Any) -> None:
    workflow = load_manifest(sleeper(project, "killed"))
    folder = project / "workflows" / "killed"
    workers = set(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_worker() -> None:
        (_, worker), *_ = wait_for_pids(folder)
        assert worker in workers  # the kernel's parent is the worker process
        killed.append(worker)
        os.kill(worker, signal.SIGKILL)

    threading.Thread(target=kill_worker, daemon=True).start()
    record = run_workflow(
        workflow,
        RunOptions(run_id=DASK, step_parameters={"slow": {"seconds": 2}}),
        executor=DaskExecutor(client),
    )

    assert record.status == RunStatus.SUCCEEDED
    assert [s.status for s in record.steps] == [StepStatus.SUCCEEDED] * 3
    (first, worker), (second, other) = wait_for_pids(folder, lines=2)
    assert killed == [worker] and other != worker  # on the other worker, or a restarted one
    run_dir = project / "runs" / "killed" / DASK
    assert sorted(p.name for p in run_dir.glob("*.ipynb")) == [
        "after.ipynb",
        "quick.ipynb",
        "slow.ipynb",
    ]
    assert wait_until_no_kernels(DASK, timeout=30) == []  # the orphan kernel ends too


def test_a_step_fails_naming_the_worker_lost_past_allowed_failures(project: Path) -> None:
    workflow = load_manifest(sleeper(project, "lost"))
    folder = project / "workflows" / "lost"

    def kill_worker() -> None:
        (_, worker), *_ = wait_for_pids(folder)
        os.kill(worker, signal.SIGKILL)

    threading.Thread(target=kill_worker, daemon=True).start()
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        record = run_workflow(workflow, RunOptions(run_id=DASK), executor=DaskExecutor(client))

    assert record.status == RunStatus.FAILED
    slow = record.step("slow")
    assert slow.status == StepStatus.FAILED and slow.error is not None
    assert slow.error.ename == "KilledWorker"
    assert slow.error.evalue.startswith("the Dask worker running the step was lost: ")
    assert "tcp://127.0.0.1:" in slow.error.evalue  # the worker's address
    assert record.step("after").reason == "needs 'slow', which failed"
    run_dir = project / "runs" / "lost" / DASK
    assert sorted(p.name for p in run_dir.iterdir()) == ["README.md", "quick.ipynb", "run.json"]
    assert (record.step("quick").notebook, slow.notebook) == ("quick.ipynb", "")
    report = (run_dir / "README.md").read_text(encoding="utf-8")
    assert "(quick.ipynb)" in report and "slow.ipynb" not in report
