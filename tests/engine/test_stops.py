"""A kernel nbflow stops (timeout, cancellation) is not reported dead by papermill;
a kernel that dies on its own still is."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import install_kernelspec, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.engine.step import KernelHandle, StepTask, execute_step
from nbflow.run_record import StepStatus

DIED = "Kernel died while waiting for execute reply."


def one_step(project: Path, name: str, source: str, timeout: str = "") -> None:
    folder = project / "workflows" / name
    write_notebook(folder / f"{name}.ipynb", None, [source])
    write_manifest(
        folder, f"name: {name}\nsteps:\n  - {{id: {name}, notebook: {name}.ipynb{timeout}}}\n"
    )


def without_times(stderr: str) -> list[str]:
    return [re.sub(r"\d+\.\d s", "T s", line) for line in stderr.splitlines()]


def test_a_step_past_its_timeout_logs_only_the_timeout(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 10 s: time for the kernel to start and reach the cell on a loaded machine
    one_step(project, "slow", "import time\ntime.sleep(600)", ", timeout: 10")

    assert main(["run", "slow"]) == 1

    err = without_times(capsys.readouterr().err)
    assert err[1:-1] == [
        "▶ slow running",
        "✗ slow failed T s — cell 0: Timeout: timed out after 10 s",
        "nbflow: slow failed (0/1 steps) in T s",
    ]
    assert not [line for line in err if "Kernel died" in line]


def test_a_kernel_that_dies_on_its_own_is_still_reported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_step(project, "dies", "import os\nos._exit(1)", ", timeout: 30")

    assert main(["run", "dies"]) == 1

    err = without_times(capsys.readouterr().err)
    assert err[1:3] == ["▶ dies running", f"ERROR papermill: {DIED}"]
    failed = (
        "✗ dies failed T s — cell 0: DeadKernelError: the kernel died: Kernel died; kernel log:"
    )
    assert err[3].startswith(failed)


@pytest.fixture
def papermill_records() -> Iterator[list[logging.LogRecord]]:
    """What papermill's logger lets through while the test runs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("papermill")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def test_a_cancelled_step_is_not_reported_dead(
    tmp_path: Path, papermill_records: list[logging.LogRecord]
) -> None:
    notebook = write_notebook(tmp_path / "slow.ipynb", None, ["import time\ntime.sleep(60)"])
    task = StepTask(step_id="slow", notebook=notebook, output=tmp_path / "out.ipynb", cwd=tmp_path)
    handle = KernelHandle()
    cancel = threading.Timer(2, handle.stop, ["cancelled: the run was interrupted"])
    cancel.start()

    result = execute_step(task, handle, cancelled=lambda: True)

    assert result.status == StepStatus.CANCELLED
    assert result.error is not None
    assert result.error.evalue == "cancelled: the run was interrupted"
    assert [r.getMessage() for r in papermill_records if "Kernel died" in r.getMessage()] == []


def test_a_kernel_stopped_while_it_starts_is_not_reported_dead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, papermill_records: list[logging.LogRecord]
) -> None:
    """On a loaded machine a timeout or a cancellation can come before the kernel has
    answered kernel_info; nbclient then logs "… Kernel died before replying to
    kernel_info", which is nbflow's stop too, not a crash."""
    install_kernelspec(tmp_path / "jupyter", "slowstart", "time.sleep(8)  # still starting")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    notebook = write_notebook(tmp_path / "n.ipynb", None, ["1"], kernel="slowstart")
    task = StepTask(
        step_id="n",
        notebook=notebook,
        output=tmp_path / "out.ipynb",
        cwd=tmp_path,
        kernel="slowstart",
    )
    handle = KernelHandle()
    cancel = threading.Timer(1, handle.stop, ["cancelled: the run was interrupted"])
    cancel.start()

    result = execute_step(task, handle, cancelled=lambda: True)

    assert result.status == StepStatus.CANCELLED
    assert [r.getMessage() for r in papermill_records if "Kernel died" in r.getMessage()] == []
