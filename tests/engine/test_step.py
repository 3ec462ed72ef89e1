"""One notebook through papermill in a kernel nbflow owns: timeouts, dead kernels,
the failing cell's index, and no kernel process left behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import (
    cell_outputs,
    install_kernelspec,
    markdown_cell,
    wait_until_no_kernels,
    write_manifest,
    write_notebook,
)

from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.engine.step import StepTask, execute_step
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunStatus, StepError, StepStatus


def test_step_past_its_timeout_is_stopped(project: Path) -> None:
    folder = project / "workflows" / "slow"
    write_notebook(
        folder / "slow.ipynb",
        "seconds = 600",
        [markdown_cell("# Sleeps"), "import time", "time.sleep(seconds)", "after = True"],
    )
    # 10 s: time enough, on a loaded machine, for the kernel to reach the sleeping cell
    manifest = write_manifest(
        folder, "name: slow\nsteps:\n  - {id: slow, notebook: slow.ipynb, timeout: 10s}\n"
    )

    started = time.monotonic()
    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))
    took = time.monotonic() - started

    assert took < 120  # far short of the 600 s sleep: the timeout cut it, even on a loaded machine
    assert record.status == RunStatus.FAILED
    step = record.step("slow")
    assert step.status == StepStatus.FAILED
    assert step.error == StepError("Timeout", "timed out after 10 s", 3)
    assert step.duration is not None and 10 <= step.duration < 120
    executed = project / "runs" / "slow" / record.run_id / "slow.ipynb"
    errors = [o for o in cell_outputs(executed, "time.sleep") if o["output_type"] == "error"]
    assert errors == [
        {
            "output_type": "error",
            "ename": "Timeout",
            "evalue": "timed out after 10 s",
            "traceback": [],
        }
    ]
    assert cell_outputs(executed, "after = True") == []
    assert wait_until_no_kernels(record.run_id) == []


def test_dead_kernel_fails_the_step(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "die.ipynb", None, ["x = 1", "import os\nos._exit(1)"])
    task = StepTask(
        step_id="die",
        notebook=notebook,
        output=tmp_path / "die.out.ipynb",
        cwd=tmp_path,
        env={"NBFLOW_RUN_ID": f"test-dead-{tmp_path.name}"},
    )

    result = execute_step(task)

    assert result.status == StepStatus.FAILED
    assert result.error is not None
    assert result.error.ename == "DeadKernelError"
    assert result.error.evalue.startswith("the kernel died")
    assert result.error.cell == 1
    errors = [o for o in cell_outputs(task.output, "import os") if o["output_type"] == "error"]
    assert [o["ename"] for o in errors] == ["DeadKernelError"]
    assert wait_until_no_kernels(f"test-dead-{tmp_path.name}") == []


def test_unknown_kernel_fails_the_step_without_raising(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", None, ["1"])
    task = StepTask(
        step_id="nb",
        notebook=notebook,
        output=tmp_path / "nb.out.ipynb",
        cwd=tmp_path,
        kernel="no-such-kernel",
    )

    result = execute_step(task)

    assert result.status == StepStatus.FAILED
    assert result.error == StepError("NoSuchKernel", "No such kernel named no-such-kernel", None)
    assert result.outputs == {}


def test_step_runs_in_its_folder_with_the_run_environment(tmp_path: Path) -> None:
    notebook = write_notebook(
        tmp_path / "env.ipynb",
        "greeting = 'hi'",
        [
            "import os, pathlib, nbflow\n"
            "pathlib.Path('written.txt').write_text(greeting)\n"
            "nbflow.record('step', os.environ['NBFLOW_STEP'])",
        ],
    )
    task = StepTask(
        step_id="env",
        notebook=notebook,
        output=tmp_path / "env.out.ipynb",
        cwd=tmp_path,
        parameters={"greeting": "hello"},
        env={"NBFLOW_STEP": "env"},
    )

    result = execute_step(task)

    assert result.status == StepStatus.SUCCEEDED
    assert result.error is None
    assert result.outputs == {"step": "env"}
    assert (tmp_path / "written.txt").read_text() == "hello"
    assert task.output.is_file()
    assert result.duration > 0


def test_a_kernel_that_dies_while_starting_is_replaced(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel dying before it answers (e.g. its port taken meanwhile) is no attempt
    of the step: a fresh kernel runs the notebook."""
    launches = tmp_path / "launches"
    install_kernelspec(
        tmp_path / "jupyter",
        "flaky",
        f"launches = pathlib.Path({str(launches)!r})\n"
        "launches.write_text(launches.read_text() + 'x' if launches.exists() else 'x')\n"
        "if len(launches.read_text()) == 1:\n"
        "    sys.exit(1)  # the first launch dies before replying to kernel_info",
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    folder = project / "workflows" / "flaky"
    write_notebook(folder / "a.ipynb", None, ["import nbflow\nnbflow.record('ok', True)"])
    manifest = write_manifest(
        folder, "name: flaky\nsteps:\n  - {id: a, notebook: a.ipynb, kernel: flaky}\n"
    )

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    assert launches.read_text() == "xx"
    assert record.status == RunStatus.SUCCEEDED
    step = record.step("a")
    assert (len(step.attempts), step.outputs) == (1, {"ok": True})
