"""Warm kernels: a fresh kernel per step, started ahead of need, none left behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psutil
import pytest
from helpers import wait_until_no_kernels, write_manifest, write_notebook

from nbflow.engine.kernels import KernelPool, KernelSpec
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.engine.step import StepTask, execute_step
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunRecord, RunStatus, StepRecord, StepStatus


def test_no_state_leaks_between_steps(project: Path) -> None:
    folder = project / "workflows" / "leak"
    write_notebook(
        folder / "a.ipynb",
        None,
        ["import os, nbflow\nsecret_sauce = 42\nnbflow.record('pid', os.getpid())"],
    )
    write_notebook(
        folder / "b.ipynb",
        None,
        [
            "import os, nbflow\n"
            "nbflow.record('pid', os.getpid())\n"
            "nbflow.record('leaked', 'secret_sauce' in globals())\n"
            "nbflow.record('step', os.environ['NBFLOW_STEP'])\n"
            "nbflow.record('cwd', os.getcwd())"
        ],
    )
    write_manifest(
        folder,
        """
        name: leak
        steps:
          - {id: a, notebook: a.ipynb}
          - {id: b, notebook: b.ipynb}
        """,
    )
    record = run_workflow(load_manifest(folder / "workflow.yaml"), RunOptions(jobs=1))

    a, b = record.steps
    assert record.status == RunStatus.SUCCEEDED, [s.error for s in record.steps]
    assert b.outputs["leaked"] is False
    assert a.outputs["pid"] != b.outputs["pid"]
    assert b.outputs["step"] == "b"  # a kernel warmed for b got b's environment
    assert b.outputs["cwd"] == str(folder)
    assert wait_until_no_kernels(record.run_id) == []


def fan_workflow(folder: Path, first: str) -> Path:
    """``first``, then four steps that each need it and a last one needing them all."""
    write_notebook(folder / "first.ipynb", None, [first])
    for name in ("b", "c", "d", "e", "last"):
        write_notebook(folder / f"{name}.ipynb", None, ["1 + 1"])
    return write_manifest(
        folder,
        """
        name: fan
        steps:
          - {id: first, notebook: first.ipynb}
          - {id: b, notebook: b.ipynb, needs: [first]}
          - {id: c, notebook: c.ipynb, needs: [first]}
          - {id: d, notebook: d.ipynb, needs: [first]}
          - {id: e, notebook: e.ipynb, needs: [first]}
          - {id: last, notebook: last.ipynb, needs: [b, c, d, e]}
        """,
    )


def test_failed_run_leaves_no_kernels(project: Path) -> None:
    """The steps after a failure had kernels warmed for them: all are killed."""
    folder = project / "workflows" / "fan"
    fan_workflow(folder, "import time\ntime.sleep(1.5)\nraise ValueError('boom')")
    record = run_workflow(load_manifest(folder / "workflow.yaml"), RunOptions(jobs=2))

    assert record.status == RunStatus.FAILED
    assert [s.status for s in record.steps] == [StepStatus.FAILED] + [StepStatus.SKIPPED] * 5
    assert wait_until_no_kernels(record.run_id) == []


class _InterruptWhenRunning:
    """An observer that presses Ctrl-C once step ``at`` runs and others are warm."""

    def __init__(self, at: str) -> None:
        self.at = at

    def run_started(self, record: RunRecord) -> None:
        pass

    def step_changed(self, record: RunRecord, step: StepRecord) -> None:
        if step.id == self.at and step.status == StepStatus.RUNNING:
            raise KeyboardInterrupt

    def run_finished(self, record: RunRecord) -> None:
        pass


def test_interrupted_run_leaves_no_kernels(project: Path) -> None:
    folder = project / "workflows" / "fan"
    fan_workflow(folder, "1")
    record = run_workflow(
        load_manifest(folder / "workflow.yaml"),
        RunOptions(jobs=2),
        observer=_InterruptWhenRunning("c"),
    )

    assert record.status == RunStatus.CANCELLED
    assert wait_until_no_kernels(record.run_id) == []


def _spec(tmp_path: Path, step: str) -> KernelSpec:
    return KernelSpec.of("python3", tmp_path, {"NBFLOW_RUN_ID": f"pool-{os.getpid()}-{step}"})


def test_pool_close_kills_warm_and_taken_kernels(tmp_path: Path) -> None:
    pool = KernelPool(3)
    assert pool.warm(_spec(tmp_path, "a"))
    assert not pool.warm(_spec(tmp_path, "a"))  # one warm kernel per spec
    assert pool.warm(_spec(tmp_path, "b"))
    assert pool.warming() == 2
    taken = pool.take(_spec(tmp_path, "a"))
    processes = [psutil.Process(taken.pid)]
    pool.close()

    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes)
    assert wait_until_no_kernels(f"pool-{os.getpid()}-a") == []
    assert wait_until_no_kernels(f"pool-{os.getpid()}-b") == []


def test_pool_is_bounded(tmp_path: Path) -> None:
    with KernelPool(2) as pool:
        assert [pool.warm(_spec(tmp_path, s)) for s in "abc"] == [True, True, False]


def test_kernel_warmed_on_one_thread_runs_a_step_on_another(tmp_path: Path) -> None:
    """The pool starts kernels on its own threads; papermill uses them from a worker
    thread with its own event loop."""
    notebook = write_notebook(tmp_path / "nb.ipynb", None, ["import nbflow\nnbflow.record('x', 1)"])
    env = {"NBFLOW_RUN_ID": f"thread-{os.getpid()}"}
    results = []
    with KernelPool(2) as pool:
        pool.warm(KernelSpec.of("python3", tmp_path, env))
        output = tmp_path / "out" / "s.ipynb"
        task = StepTask("s", notebook, output, tmp_path, env=env, kernels=pool)
        worker = threading.Thread(target=lambda: results.append(execute_step(task)))
        worker.start()
        worker.join(60)
    assert [(r.status, r.outputs) for r in results] == [(StepStatus.SUCCEEDED, {"x": 1})]
    assert wait_until_no_kernels(env["NBFLOW_RUN_ID"]) == []


@pytest.mark.parametrize("kernels", [None, "pool"])
def test_unknown_kernel_fails_the_step(tmp_path: Path, kernels: str | None) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", None, ["1"])
    with KernelPool(1) as pool:
        task = StepTask(
            "s",
            notebook,
            tmp_path / "s.ipynb",
            tmp_path,
            kernel="no-such-kernel",
            kernels=pool if kernels else None,
        )
        pool.warm(task.kernel_spec)
        result = execute_step(task)
    assert result.status == StepStatus.FAILED
    assert result.error is not None and result.error.ename == "NoSuchKernel"


def test_a_pools_kernels_share_one_spec_lookup(tmp_path: Path) -> None:
    """Every KernelManager searched the kernel folders and read kernel.json again, on
    the main process's GIL; a pool's kernels now share one lookup per kernel name."""
    with KernelPool(2) as pool:
        first, second = pool.take(_spec(tmp_path, "a")), pool.take(_spec(tmp_path, "b"))
        assert first.km.kernel_spec_manager is second.km.kernel_spec_manager
        assert first.km.kernel_spec is second.km.kernel_spec  # found once, shared
        assert first.km.kernel_spec.language == "python"
    assert wait_until_no_kernels(f"pool-{os.getpid()}-a") == []


def test_an_unknown_kernel_is_not_remembered_as_found(tmp_path: Path) -> None:
    from jupyter_client.kernelspec import NoSuchKernel

    with KernelPool(1) as pool:
        for _ in range(2):
            with pytest.raises(NoSuchKernel):
                pool.take(KernelSpec.of("no-such-kernel", tmp_path, {}))


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="Linux's socket tables")
@pytest.mark.parametrize("family, host", [("AF_INET", "127.0.0.1"), ("AF_INET6", "::1")])
def test_listening_ports_are_read_from_the_system_not_probed(family: str, host: str) -> None:
    import socket
    import time

    from nbflow.engine.kernel import LISTEN_POLL, _SocketTable

    table = _SocketTable()
    try:
        server = socket.socket(getattr(socket, family))
        server.bind((host, 0))
    except OSError:
        pytest.skip(f"no {family} loopback here")
    with server, socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        ports = {server.getsockname()[1], other.getsockname()[1]}
        before = table.listening(ports)
        server.listen()
        time.sleep(LISTEN_POLL)  # one reading serves the callers of one interval
        during = table.listening(ports)

    assert before is False  # bound, not yet listening; the other one alone is not enough
    assert during is True


@pytest.mark.parametrize("forked", [True, False])
def test_a_steps_kernel_writes_no_ipython_history_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forked: bool
) -> None:
    """Each kernel wrote its session and cells into the user's history.sqlite, from a
    thread of its own (32 kernels at once in a fan-out); the step's own cells are
    still in ``In``."""
    monkeypatch.setenv("NBFLOW_FORK_KERNELS", "1" if forked else "0")
    ipython_dir = tmp_path / "ipython"
    probe = "import nbflow\nnbflow.record('earlier', In[1])\nnbflow.record('parent', os.getppid())"
    notebook = write_notebook(tmp_path / "nb.ipynb", None, ["import os", probe])
    env = {"IPYTHONDIR": str(ipython_dir), "NBFLOW_RUN_ID": f"history-{os.getpid()}"}
    with KernelPool(1) as pool:
        task = StepTask("s", notebook, tmp_path / "s.ipynb", tmp_path, env=env, kernels=pool)
        result = execute_step(task)

    assert result.error is None, result.error
    assert result.outputs["earlier"] == "import os"
    assert (result.outputs["parent"] != os.getpid()) is forked
    assert ipython_dir.is_dir()  # the kernel used this IPython folder
    assert list(ipython_dir.rglob("history.sqlite*")) == []


def test_only_an_ipykernel_is_told_to_keep_no_history() -> None:
    from nbflow.engine.kernel import _extra_arguments

    flag = ["--HistoryManager.enabled=False"]
    assert _extra_arguments(["python", "-m", "ipykernel_launcher", "-f", "{c}"]) == flag
    assert _extra_arguments(["/other/python", "-m", "ipykernel", "-f", "{c}"]) == flag
    assert _extra_arguments(["R", "--slave", "-e", "IRkernel::main()", "--args", "{c}"]) == []


@pytest.mark.parametrize("ipython_dir", [None, "ipython"])
def test_a_runs_kernel_folders_are_jupyter_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ipython_dir: str | None
) -> None:
    """The same folders as jupyter_client's default, found without importing IPython."""
    from jupyter_client.kernelspec import KernelSpecManager

    from nbflow.engine.kernel import kernel_specs

    if ipython_dir is None:
        monkeypatch.delenv("IPYTHONDIR", raising=False)
    else:
        monkeypatch.setenv("IPYTHONDIR", str(tmp_path / ipython_dir))
    assert kernel_specs().kernel_dirs == KernelSpecManager().kernel_dirs


def test_a_step_starts_no_heartbeat_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread per step pinged the kernel every second; nothing read it (the client
    asks its KernelManager whether the kernel lives)."""
    from jupyter_client.channels import HBChannel

    started: list[object] = []
    start = HBChannel.start
    monkeypatch.setattr(HBChannel, "start", lambda self: started.append(self) or start(self))
    notebook = write_notebook(tmp_path / "nb.ipynb", None, ["import nbflow\nnbflow.record('x', 1)"])
    with KernelPool(1) as pool:
        task = StepTask("s", notebook, tmp_path / "s.ipynb", tmp_path, kernels=pool)
        result = execute_step(task)
    assert (result.status, result.outputs) == (StepStatus.SUCCEEDED, {"x": 1})
    assert started == []
