"""Run one notebook through papermill (with :mod:`~nbflow.engine.source`,
:mod:`~nbflow.engine.papermill_load` and :mod:`~nbflow.engine.papermill_files`, the
only modules that import papermill).

Each call gets its own fresh kernel, in the workflow folder — started now, or
warmed ahead of need by a :class:`~nbflow.engine.kernels.KernelPool` — and hands
it to papermill (``km=``), so nbflow owns the kernel: a watchdog can kill it when the step's
timeout passes or the run is cancelled, which papermill's per-cell timeout cannot
do for a whole step. Calls are independent and thread-safe: the runner executes
independent steps in parallel threads, each with its own event loop.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from nbflow.engine import papermill_files
from nbflow.engine.folders import make_output_folders
from nbflow.engine.kernel import start_kernel
from nbflow.engine.kernels import KernelPool
from nbflow.engine.outputs import read_outputs
from nbflow.engine.papermill_load import load_papermill, prime_nbformat
from nbflow.engine.source import StepSource, parameters_source, prepare_source
from nbflow.engine.step_task import KernelHandle, StepResult, StepTask
from nbflow.engine.stops import quiet_when_stopped
from nbflow.manifest.notebook_file import NotebookError, multiline_text
from nbflow.run_record import StepError, StepStatus, utc_now
from nbflow.secrets import Redactor
from nbflow.store.notebooks import dump_notebook, write_clean
from nbflow.store.runs import is_out_of_room, write_atomic

__all__ = [
    "KernelHandle",
    "StepResult",
    "StepTask",
    "execute_step",
    "redact_notebook",
    "write_executed",
]

log = logging.getLogger(__name__)

KERNEL_START_TIMEOUT = 60.0
KERNEL_START_ATTEMPTS = 3
KERNEL_START_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond")
STOPPED = ("Timeout", "Cancelled", "DeadKernelError")  # stops the notebook cannot report


def execute_step(
    task: StepTask, handle: KernelHandle | None = None, cancelled: Callable[[], bool] = bool
) -> StepResult:
    """Execute ``task`` once; never raises for a failing notebook.

    papermill writes into a scratch folder (in ``task.scratch``: see engine/scratch.py);
    only the finished notebook, with secrets redacted, is written to ``task.output``.
    """
    handle = handle or KernelHandle()
    start, started = utc_now(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nbflow-step-", dir=task.scratch) as scratch:
        draft = Path(scratch) / task.output.name
        source, error = _prepare(task, Path(scratch))
        if source is not None:
            prime_nbformat(*source.nbformat)  # before papermill reads it: see papermill_load
            error = _run_watched(replace(task, notebook=source.path), draft, handle)
        notebook = _read_notebook(draft)
    error = _locate_error(error, notebook, handle, cancelled, source)
    if error is not None and error.ename in STOPPED and source is not None:
        _show_error(notebook, error, source)
    _set_paths(notebook, task)
    notebook = redact_notebook(task, notebook)
    outputs = read_outputs(notebook)
    timings = write_executed(task, notebook) if notebook else None
    status = StepStatus.SUCCEEDED if error is None else StepStatus.FAILED
    if cancelled() and error is not None:
        status = StepStatus.CANCELLED
    return StepResult(
        status,
        start,
        utc_now(),
        round(time.monotonic() - started, 3),
        _redact_error(task.redactor, error),
        outputs,
        timings,
    )


def write_executed(task: StepTask, notebook: dict[str, Any]) -> dict[str, Any] | None:
    """Write the executed, redacted ``notebook`` to ``task.output``, once: cleaned when
    ``task.clean`` (then what cleaning moved out, else None)."""
    if task.clean:
        return write_clean(task.output, notebook, root=task.root)
    write_atomic(task.output, dump_notebook(notebook))
    return None


def _prepare(task: StepTask, scratch: Path) -> tuple[StepSource | None, StepError | None]:
    """The folders the step writes into, and the notebook papermill runs."""
    try:
        make_output_folders(task.cwd, task.produces)
    except OSError as exc:
        return None, StepError(type(exc.__cause__ or exc).__name__, str(exc), None)
    try:
        source = prepare_source(task.notebook, scratch, task.parameters, task.kernel)
    except NotebookError as exc:  # changed since the run checked it
        return None, StepError("NotebookError", str(exc), None)
    return source, None


def _run_watched(task: StepTask, draft: Path, handle: KernelHandle) -> StepError | None:
    """Run papermill on ``task.notebook``, stopped by the watchdog past the timeout."""
    timer = _watchdog(task, handle)
    try:
        with quiet_when_stopped(handle):  # nbflow reports the stop itself
            return _run_papermill(task, draft, handle)
    finally:
        if timer:
            timer.cancel()


def redact_notebook(task: StepTask, notebook: dict[str, Any]) -> dict[str, Any]:
    """``notebook`` with every secret masked. An injected-parameters cell a mask
    changed is written anew from the masked parameters, so it stays valid code:
    ``limit = "***"``, not ``limit = ***`` (a numeric secret given with ``-p``)."""
    redacted: dict[str, Any] = task.redactor.data(notebook)
    for before, after in zip(notebook.get("cells", ()), redacted.get("cells", ()), strict=False):
        tags = after.get("metadata", {}).get("tags", ())
        if "injected-parameters" in tags and after.get("source") != before.get("source"):
            after["source"] = task.redactor.text(_parameters_source(task, redacted))
    return redacted


def _parameters_source(task: StepTask, notebook: Mapping[str, Any]) -> str:
    """The injected-parameters cell papermill writes for ``task``'s parameters, masked."""
    parameters = task.redactor.data(dict(task.parameters))
    return parameters_source(task.kernel, notebook.get("metadata", {}), parameters)


def _set_paths(notebook: dict[str, Any], task: StepTask) -> None:
    """papermill recorded the scratch paths it read and wrote; name the real ones."""
    meta = notebook.get("metadata", {}).get("papermill")
    if isinstance(meta, dict):
        meta["input_path"] = str(task.notebook)
        meta["output_path"] = str(task.output)


def _locate_error(
    error: StepError | None,
    notebook: Mapping[str, Any],
    handle: KernelHandle,
    cancelled: Callable[[], bool],
    source: StepSource | None,
) -> StepError | None:
    """Name a stop nbflow caused, and find the cell an error happened in."""
    if handle.reason is not None:
        ename = "Cancelled" if cancelled() else "Timeout"
        return StepError(ename, handle.reason, _running_cell(notebook, source))
    if error is not None and error.cell is None:
        ename, evalue = _cell_message(error, notebook)
        return StepError(ename, evalue, _running_cell(notebook, source), error.traceback)
    return error


def _cell_message(error: StepError, notebook: Mapping[str, Any]) -> tuple[str, str]:
    """The exception a failed cell reports. papermill says only ``CellExecutionError``
    when the cell has no error output: IPython prints a ``UsageError`` (an unknown
    magic) on stderr instead; take its last ``Name: message`` line."""
    if error.ename != "CellExecutionError" or error.evalue:
        return error.ename, error.evalue
    failed = [c for c in notebook.get("cells", ()) if _cell_papermill(c).get("exception")]
    outputs = failed[0].get("outputs", ()) if failed else ()
    text = "".join(
        multiline_text(o.get("text", "")) for o in outputs if o.get("name") == "stderr"
    ).strip()
    if not text:
        return error.ename, error.evalue
    last = text.splitlines()[-1]
    name, colon, message = last.partition(": ")
    if colon and name.replace(".", "").isidentifier():
        return name, message
    return error.ename, last


def _cell_papermill(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = cell.get("metadata", {}).get("papermill", {})
    return meta if isinstance(meta, Mapping) else {}


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
    """Run the notebook; a kernel that dies before it answers (a start-up failure, e.g.
    a port taken between jupyter_client choosing it and the kernel binding it) is
    replaced by a fresh one: no cell ran, so this is not an attempt of the step."""
    for number in range(1, KERNEL_START_ATTEMPTS + 1):
        kernels = task.kernels if number == 1 else None  # a warm kernel failed: start anew
        error = _run_papermill_once(task, draft, handle, kernels)
        if not _is_start_failure(error) or handle.reason is not None:
            return error
        log.warning("%s: kernel start failed (%s); starting another", task.step_id, error)
    return error


def _is_start_failure(error: StepError | None) -> bool:
    return error is not None and error.evalue.startswith(KERNEL_START_FAILURES)


def _run_papermill_once(
    task: StepTask, draft: Path, handle: KernelHandle, kernels: KernelPool | None
) -> StepError | None:
    try:
        kernel = kernels.take(task.kernel_spec) if kernels else start_kernel(task.kernel_spec)
    except Exception as exc:  # unknown kernels, kernels that fail to start
        if is_out_of_room(exc):
            raise  # not the step's failure: the run stops (engine/runner.py)
        return StepError(type(exc).__name__, str(exc), None)
    try:
        handle.attach(kernel.pid)
        error = _run_papermill_in(task, draft, kernel.km)
        if error is not None and error.ename == "DeadKernelError":
            tail = _log_tail(kernel.log_text())
            return StepError(error.ename, f"{error.evalue}{tail}", error.cell)
        return error
    finally:
        kernel.close_clients()
        if kernels:
            kernels.release(kernel)  # killed in the background: the notebook is saved
        else:
            kernel.kill()


def _log_tail(text: str) -> str:
    lines = [
        line for line in text.splitlines() if line.strip() and "without encryption" not in line
    ]
    return ("; kernel log: " + " | ".join(lines[-3:])) if lines else ""


def _run_papermill_in(task: StepTask, draft: Path, km: Any) -> StepError | None:
    engine = load_papermill()  # once per process (papermill_load.py)
    import papermill
    from nbclient.exceptions import DeadKernelError

    papermill_files.use()  # dask workers come here without load_papermill
    try:
        papermill.execute_notebook(
            str(task.notebook),
            str(draft),
            engine_name=engine,
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
    except Exception as exc:  # bad notebooks, kernels that never become ready
        if is_out_of_room(exc):
            raise  # papermill could not write the draft: the run stops (engine/runner.py)
        return StepError(type(exc).__name__, str(exc), None)


def _read_notebook(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
            return data
    except (OSError, ValueError):
        return {}


def _show_error(notebook: dict[str, Any], error: StepError, source: StepSource) -> None:
    """Make a stop the notebook itself could not report visible in the notebook."""
    cell = next((c for c in notebook.get("cells", ()) if source.index_of(c) == error.cell), None)
    if error.cell is None or cell is None:
        return
    output = {"output_type": "error", "ename": error.ename, "evalue": error.evalue, "traceback": []}
    cell.setdefault("outputs", []).append(output)


def _running_cell(notebook: Mapping[str, Any], source: StepSource | None) -> int | None:
    """The index, in the step's own notebook, of the cell that failed or was running
    when the kernel stopped (cells papermill inserted have no index there)."""
    cells = list(notebook.get("cells", ()))
    failed = [
        c for c in cells if any(o.get("output_type") == "error" for o in c.get("outputs", ()))
    ]
    started = [c for c in cells if _cell_papermill(c).get("start_time")]
    found = failed[:1] or started[-1:]
    if not found or source is None:
        return None
    return source.index_of(found[0])
