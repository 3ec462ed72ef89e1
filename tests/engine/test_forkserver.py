"""Kernels forked from a template: the same fresh kernel as a launched one, faster."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from helpers import wait_until_no_kernels, write_manifest, write_notebook

from nbflow.engine import forkserver
from nbflow.engine.kernels import KernelPool, KernelSpec
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.engine.step import StepTask, execute_step
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunStatus

pytestmark = pytest.mark.skipif(not forkserver.enabled(), reason="fork server is Linux-only")

PROBE = (
    "import os, sys, random, json, nbflow\n"
    "nbflow.record('pid', os.getpid())\n"
    "nbflow.record('parent', os.getppid())\n"
    "nbflow.record('cwd', os.getcwd())\n"
    "nbflow.record('path', [p for p in sys.path if p in ('', os.getcwd())])\n"
    "nbflow.record('step', os.environ['NBFLOW_STEP'])\n"
    "nbflow.record('random', random.random())\n"
    "nbflow.record('leaked', hasattr(json, 'nbflow_leak') or 'sauce' in globals())\n"
    "json.nbflow_leak = sauce = 1\n"
    "import helper\n"
    "nbflow.record('helper', helper.VALUE)"
)


def probe_workflow(folder: Path, steps: int) -> Path:
    """``steps`` steps in a chain, each recording what its kernel looks like."""
    for index in range(steps):
        write_notebook(folder / f"s{index}.ipynb", None, [PROBE])
    (folder / "helper.py").write_text("VALUE = 'imported from the workflow folder'\n")
    listed = "".join(f"  - {{id: s{i}, notebook: s{i}.ipynb}}\n" for i in range(steps))
    write_manifest(folder, f"name: probe\nsteps:\n{listed}")
    return folder / "workflow.yaml"


@pytest.mark.parametrize("switch", ["1", "0"])
def test_each_step_gets_a_fresh_kernel_forked_or_launched(
    project: Path, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    monkeypatch.setenv(forkserver.SWITCH, switch)
    folder = project / "workflows" / "probe"
    record = run_workflow(load_manifest(probe_workflow(folder, 3)), RunOptions(jobs=1))

    assert record.status == RunStatus.SUCCEEDED, [s.error for s in record.steps]
    outputs = [step.outputs for step in record.steps]
    parents = {o["parent"] for o in outputs}
    if switch == "1":  # one template is every kernel's parent, and it is not nbflow
        assert parents != {os.getpid()} and len(parents) == 1
    else:
        assert parents == {os.getpid()}
    assert len({o["pid"] for o in outputs}) == 3
    assert len({o["random"] for o in outputs}) == 3  # random is reseeded in each
    assert [o["leaked"] for o in outputs] == [False, False, False]
    assert [o["step"] for o in outputs] == ["s0", "s1", "s2"]
    assert {o["cwd"] for o in outputs} == {str(folder)}
    assert all(o["path"] for o in outputs)  # the workflow folder is importable
    assert {o["helper"] for o in outputs} == {"imported from the workflow folder"}
    assert wait_until_no_kernels(record.run_id) == []


def _spec(tmp_path: Path, **env: str) -> KernelSpec:
    return KernelSpec.of("python3", tmp_path, {"NBFLOW_STEP": "s", **env})


def _parent(pid: int | None) -> int:
    assert pid is not None
    return psutil.Process(pid).ppid()


def _template(pid: int | None) -> int:
    """The template a kernel was forked from (never this process: a test kills it)."""
    parent = _parent(pid)
    assert parent != os.getpid(), "the kernel was launched, not forked"
    return parent


def test_a_kernel_whose_interpreter_settings_differ_is_launched(tmp_path: Path) -> None:
    with KernelPool(2) as pool:
        forked = pool.take(_spec(tmp_path))
        launched = pool.take(_spec(tmp_path, PYTHONPATH=str(tmp_path)))  # read at start-up
        assert _parent(forked.pid) != os.getpid()
        assert _parent(launched.pid) == os.getpid()


def test_can_fork_only_this_interpreter_running_ipykernel(tmp_path: Path) -> None:
    server = forkserver.ForkServer()
    try:
        env = dict(server.env)
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]
        assert server.can_fork(kernel, env)
        assert server.can_fork(kernel, {**env, "NBFLOW_STEP": "x", "JPY_PARENT_PID": "1"})
        assert not server.can_fork(kernel, {**env, "PYTHONHASHSEED": "0"})
        assert not server.can_fork(kernel, {**env, "LD_PRELOAD": "x.so"})
        assert not server.can_fork(["/usr/bin/other-python", *kernel[1:]], env)
        assert not server.can_fork([sys.executable, "-m", "other_kernel", "-f", "c.json"], env)
    finally:
        server.close()


def test_closing_the_pool_kills_the_template_and_its_kernels(tmp_path: Path) -> None:
    pool = KernelPool(2)
    taken = pool.take(_spec(tmp_path))
    assert pool.warm(_spec(tmp_path, NBFLOW_STEP="t"))
    template = psutil.Process(_template(taken.pid))
    kernels = template.children()
    assert len(kernels) >= 1

    pool.close()

    psutil.wait_procs([template, *kernels], timeout=30)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in kernels)
    assert not template.is_running()


def test_kernels_die_with_a_killed_template(tmp_path: Path) -> None:
    with KernelPool(2) as pool:
        kernel = pool.take(_spec(tmp_path))
        process = psutil.Process(kernel.pid)
        os.kill(_template(kernel.pid), signal.SIGKILL)
        gone, alive = psutil.wait_procs([process], timeout=30)
        assert process in gone, "a forked kernel outlived its template"


def test_a_dead_template_falls_back_to_launching(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    write_notebook(folder / "nb.ipynb", None, ["import os\nprint('ran in', os.getpid())"])
    with KernelPool(2) as pool, caplog.at_level(logging.WARNING):
        os.kill(_template(pool.take(_spec(tmp_path)).pid), signal.SIGKILL)
        time.sleep(0.2)
        task = StepTask("s", folder / "nb.ipynb", tmp_path / "out.ipynb", folder, kernels=pool)
        result = execute_step(task)

    assert result.error is None
    assert "kernel template failed" in caplog.text
    assert "launching the kernel instead" in caplog.text


def test_a_forked_kernel_says_when_it_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handed out once it says so, without reading the system's socket tables (~5 ms
    of CPU per reading, late by tens of milliseconds on a loaded machine)."""
    from nbflow.engine import kernel as kernel_module

    readings: list[bytes | None] = []
    read = kernel_module._read_tables

    def counted() -> bytes | None:
        readings.append(read())
        return readings[-1]

    monkeypatch.setattr(kernel_module, "_read_tables", counted)
    with KernelPool(1) as pool:
        kernel = pool.take(_spec(tmp_path))
        _template(kernel.pid)
        info = kernel.km.get_connection_info()
        ports = [info[f"{name}_port"] for name in ("shell", "iopub", "stdin", "control", "hb")]
        assert readings == []
        tables = read()
        assert tables is not None
        assert all(kernel_module._listens(tables, port) for port in ports)


def test_a_kernel_that_never_says_it_listens_is_watched_as_a_launched_one(
    tmp_path: Path,
) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for written, expected in [(forkserver.LISTENING, True), (b"", False), (None, None)]:
            listening, said = os.pipe()
            process = forkserver.ForkedProcess(sleeper.pid, listening)
            if written is not None:
                os.write(said, written)
                os.close(said)
            assert process.wait_listening(0.05) is expected
            if written is None:
                os.close(said)
                assert process.wait_listening(5) is False  # closed: it died
            assert process.wait_listening(0) is bool(expected)  # asked again: the same
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_kernel_whose_port_was_taken_is_replaced_by_another_fork(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jupyter_client chooses the ports and the kernel binds them later; in a wide
    fan-out another process can take one in between, and the kernel exits."""
    import socket

    from jupyter_client.localinterfaces import localhost
    from jupyter_client.provisioning.local_provisioner import LocalPortCache

    taken = socket.socket()
    taken.bind((localhost(), 0))
    taken.listen()
    given: list[int] = []
    find = LocalPortCache.find_available_port

    def first_one_taken(self: LocalPortCache, ip: str) -> int:
        port: int = taken.getsockname()[1] if not given else find(self, ip)
        given.append(port)
        return port

    monkeypatch.setattr(LocalPortCache, "find_available_port", first_one_taken)
    try:
        with KernelPool(1) as pool:
            kernel = pool.take(_spec(tmp_path))
            assert not kernel.ended_while_starting()
            assert psutil.Process(kernel.pid).is_running()
            _template(kernel.pid)  # forked again, not launched
            assert kernel.km.shell_port != taken.getsockname()[1]
    finally:
        taken.close()
    assert len(given) == 10  # two kernels' five ports


def test_a_kernel_gone_before_it_is_watched_counts_as_ended() -> None:
    """It exited before nbflow opened its pidfd (a port it was given was taken):
    ended, not an error that fails the step."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    listening, said = os.pipe()
    process = forkserver.ForkedProcess(gone.pid, listening)
    os.close(said)
    assert process.poll() is not None
    assert process.wait_listening(5) is False
    with pytest.raises(OSError):
        os.fstat(listening)  # closed with it
