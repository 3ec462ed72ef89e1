"""Run one notebook through papermill: the only module that imports papermill.

Each call starts its own kernel, in the workflow folder, and hands it to papermill
(``km=``), so nbflow owns the kernel: a watchdog can kill it when the step's
timeout passes or the run is cancelled, which papermill's per-cell timeout cannot
do for a whole step. Calls are independent and thread-safe: the runner executes
independent steps in parallel threads, each with its own event loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nbflow.engine.kernels import die_with_parent
from nbflow.engine.outputs import read_outputs
from nbflow.run_record import StepError, StepStatus, utc_now
from nbflow.secrets import Redactor
from nbflow.store.runs import write_atomic

log = logging.getLogger(__name__)

KERNEL_START_TIMEOUT = 60.0
INSERTED_TAGS = ("injected-parameters", "papermill-error-cell-tag")
STOPPED = ("Timeout", "Cancelled", "DeadKernelError")  # stops the notebook cannot report


@dataclass(frozen=True)
class StepTask:
    """Everything needed to execute one notebook, resolved."""

    step_id: str
    notebook: Path
    output: Path
    cwd: Path
    parameters: Mapping[str, Any] = field(default_factory=dict)
    kernel: str = "python3"
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    log_output: bool = False
    redactor: Redactor = field(default_factory=lambda: Redactor(()))


@dataclass(frozen=True)
class StepResult:
    status: StepStatus
    start: str
    end: str
    duration: float
    error: StepError | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


class KernelHandle:
    """A running kernel that another thread may stop (timeout, cancellation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self.reason: str | None = None

    def attach(self, pid: int | None) -> None:
        with self._lock:
            self._pid = pid
            if self.reason is not None:
                self._kill()

    def stop(self, reason: str) -> None:
        """Kill the kernel now; the step ends with ``reason``."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self._kill()

    def _kill(self) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)


def execute_step(
    task: StepTask, handle: KernelHandle | None = None, cancelled: Callable[[], bool] = bool
) -> StepResult:
    """Execute ``task`` once; never raises for a failing notebook.

    papermill writes into a scratch folder; only the finished notebook, with secrets
    redacted, is written to ``task.output``.
    """
    handle = handle or KernelHandle()
    start, started = utc_now(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nbflow-step-") as scratch:
        draft = Path(scratch) / task.output.name
        timer = _watchdog(task, handle)
        try:
            error = _run_papermill(task, draft, handle)
        finally:
            if timer:
                timer.cancel()
        notebook = _read_notebook(draft)
    error = _locate_error(error, notebook, handle, cancelled)
    if error is not None and error.ename in STOPPED:
        _show_error(notebook, error)
    _portable_paths(notebook, task)
    notebook = task.redactor.data(notebook)
    if notebook:
        write_atomic(task.output, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    status = StepStatus.SUCCEEDED if error is None else StepStatus.FAILED
    if cancelled() and error is not None:
        status = StepStatus.CANCELLED
    return StepResult(
        status,
        start,
        utc_now(),
        round(time.monotonic() - started, 3),
        _redact_error(task.redactor, error),
        read_outputs(notebook),
    )


def _portable_paths(notebook: dict[str, Any], task: StepTask) -> None:
    """Record the notebook's paths relative to the workflow and run folders, not as
    this machine's absolute (or scratch) paths."""
    meta = notebook.get("metadata", {}).get("papermill")
    if isinstance(meta, dict):
        meta["input_path"] = os.path.relpath(task.notebook, task.cwd)
        meta["output_path"] = task.output.name


def _locate_error(
    error: StepError | None,
    notebook: Mapping[str, Any],
    handle: KernelHandle,
    cancelled: Callable[[], bool],
) -> StepError | None:
    """Name a stop nbflow caused, and find the cell an error happened in."""
    if handle.reason is not None:
        ename = "Cancelled" if cancelled() else "Timeout"
        return StepError(ename, handle.reason, _running_cell(notebook))
    if error is not None and error.cell is None:
        return StepError(error.ename, error.evalue, _running_cell(notebook), error.traceback)
    return error


def _redact_error(redactor: Redactor, error: StepError | None) -> StepError | None:
    if error is None or not redactor:
        return error
    return StepError(
        redactor.text(error.ename),
        redactor.text(error.evalue),
        error.cell,
        redactor.text(error.traceback),
    )


def _watchdog(task: StepTask, handle: KernelHandle) -> threading.Timer | None:
    if task.timeout is None:
        return None
    timer = threading.Timer(task.timeout, handle.stop, [f"timed out after {task.timeout:g} s"])
    timer.daemon = True
    timer.start()
    return timer


def _run_papermill(task: StepTask, draft: Path, handle: KernelHandle) -> StepError | None:
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as kernel_log:
        error = _run_papermill_logged(task, draft, handle, kernel_log)
        if error is not None and error.ename == "DeadKernelError":
            kernel_log.seek(0)
            tail = _log_tail(kernel_log.read())
            return StepError(error.ename, f"{error.evalue}{tail}", error.cell)
        return error


def _log_tail(text: str) -> str:
    lines = [
        line for line in text.splitlines() if line.strip() and "without encryption" not in line
    ]
    return ("; kernel log: " + " | ".join(lines[-3:])) if lines else ""


def _run_papermill_logged(
    task: StepTask, draft: Path, handle: KernelHandle, kernel_log: IO[str]
) -> StepError | None:
    import papermill
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import DeadKernelError

    km = AsyncKernelManager(kernel_name=task.kernel)
    try:
        env = {**os.environ, **task.env}
        run_sync(km.start_kernel)(
            cwd=str(task.cwd),
            env=env,
            stderr=kernel_log,
            stdout=kernel_log,
            preexec_fn=die_with_parent(),  # no kernel outlives nbflow, even kill -9
        )
        handle.attach(km.provisioner.pid if km.provisioner else None)  # type: ignore[attr-defined]
        papermill.execute_notebook(
            str(task.notebook),
            str(draft),
            parameters=dict(task.parameters),
            kernel_name=task.kernel,
            km=km,
            progress_bar=False,
            log_output=task.log_output,
            start_timeout=KERNEL_START_TIMEOUT,
        )
        return None
    except papermill.PapermillExecutionError as exc:
        return StepError(exc.ename, exc.evalue, None, "\n".join(exc.traceback))
    except DeadKernelError as exc:
        return StepError("DeadKernelError", f"the kernel died: {exc}", None)
    except Exception as exc:  # kernel start failures, unknown kernels, bad notebooks
        return StepError(type(exc).__name__, str(exc), None)
    finally:
        _shutdown(km, run_sync)


def _shutdown(km: Any, run_sync: Callable[..., Any]) -> None:
    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # the kernel is gone already; nothing to clean up
        log.debug("kernel shutdown failed", exc_info=True)


def _read_notebook(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
            return data
    except (OSError, ValueError):
        return {}


def _show_error(notebook: dict[str, Any], error: StepError) -> None:
    """Make a stop the notebook itself could not report visible in the notebook."""
    cells = [c for c in notebook.get("cells", ()) if not _is_inserted(c)]
    if error.cell is None or error.cell >= len(cells):
        return
    output = {"output_type": "error", "ename": error.ename, "evalue": error.evalue, "traceback": []}
    cells[error.cell].setdefault("outputs", []).append(output)


def _is_inserted(cell: Mapping[str, Any]) -> bool:
    tags = cell.get("metadata", {}).get("tags", ())
    return any(t in INSERTED_TAGS for t in tags)


def _running_cell(notebook: Mapping[str, Any]) -> int | None:
    """The index, in the step's own notebook, of the cell that failed or was running
    when the kernel stopped (cells papermill inserted are not counted)."""
    cells = [c for c in notebook.get("cells", ()) if not _is_inserted(c)]
    for index, cell in enumerate(cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", ())):
            return index
    started = [
        i
        for i, c in enumerate(cells)
        if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None
