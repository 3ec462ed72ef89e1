"""Execute steps on a Dask cluster: an :data:`~nbflow.engine.runner.Executor`.

The runner does not change: on the coordinator it decides what is ready, resolves
each step's parameters and is the single writer of the record and report. Each
step attempt is one Dask task. The worker receives the notebook's *content* and the
resolved parameters, not paths, since workers need not share the coordinator's
files; it executes them with the same :func:`execute_step` into a scratch folder and
returns the executed notebook and the :class:`StepResult`.

- Working directory: the workflow folder when it exists at the same path on the
  worker (a shared file system, or the same checkout); otherwise a scratch folder,
  so a step that reads files relative to its workflow needs the former.
- The kernel's environment is the worker's, plus ``NBFLOW_RUN_ID`` and
  ``NBFLOW_STEP``; nbflow must be importable on the workers. Secrets are masked in
  the notebook on the coordinator, before it is written.
- Timeout: ``execute_step``'s watchdog kills the kernel on the worker.
- Cancellation (Ctrl-C, SIGTERM): the coordinator asks every worker
  (``Client.run``) to stop the kernel of that attempt, found in a registry of the
  steps each worker process is running; a task that still has not returned after
  :data:`STOP_GRACE` seconds is cancelled and the step recorded as cancelled.
- A worker lost mid-step: the scheduler runs the task again on another worker, up
  to ``distributed.scheduler.allowed-failures`` times (default 3); past that the
  step fails with ``KilledWorker``, naming the last worker lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nbflow.engine.step import execute_step, redact_notebook, write_executed
from nbflow.engine.step_task import KernelHandle, StepResult, StepTask
from nbflow.errors import ExecutionError, UsageError
from nbflow.run_record import StepError, StepStatus, parse_time, utc_now

log = logging.getLogger(__name__)

LOCAL_WORKERS = 2
POLL = 0.2  # seconds between checks for cancellation while a task runs
STOP_GRACE = 10.0  # seconds a worker has to stop a cancelled step

# The steps this process runs as a Dask worker, by task key: their kernel and a flag
# set when the coordinator cancels them.
_RUNNING: dict[str, tuple[KernelHandle, threading.Event]] = {}


@dataclass(frozen=True)
class RemoteStep:
    """What a worker needs to execute one step attempt: plain, picklable values."""

    key: str
    step_id: str
    notebook: str  # the notebook's JSON text
    name: str  # its file name in the run folder
    cwd: str
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel: str = "python3"
    timeout: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    log_output: bool = False


def execute_remote(step: RemoteStep) -> tuple[StepResult, str | None]:
    """On a worker: execute ``step``; its result and the executed notebook's text."""
    handle, stopped = KernelHandle(), threading.Event()
    _RUNNING[step.key] = (handle, stopped)
    try:
        with tempfile.TemporaryDirectory(prefix="nbflow-dask-") as scratch:
            source = Path(scratch, "in", step.name)
            source.parent.mkdir()
            source.write_text(step.notebook, encoding="utf-8")
            output = Path(scratch, "out", step.name)
            cwd = Path(step.cwd) if Path(step.cwd).is_dir() else Path(scratch)
            task = StepTask(
                step.step_id,
                source,
                output,
                cwd,
                step.parameters,
                step.kernel,
                step.timeout,
                step.env,
                step.log_output,
            )
            result = execute_step(task, handle, stopped.is_set)
            return result, output.read_text(encoding="utf-8") if output.is_file() else None
    finally:
        _RUNNING.pop(step.key, None)


def stop_remote(key: str, reason: str) -> bool:
    """On a worker: stop the step attempt ``key`` if this process runs it."""
    entry = _RUNNING.get(key)
    if entry is None:
        return False
    handle, stopped = entry
    stopped.set()
    handle.stop(reason)
    return True


class DaskExecutor:
    """Execute each step attempt as a task on a ``distributed.Client``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(
        self, task: StepTask, handle: KernelHandle, cancelled: Callable[[], bool]
    ) -> StepResult:
        start = utc_now()
        step = _remote_step(task)
        future = self.client.submit(execute_remote, step, key=step.key, pure=False)
        try:
            result, notebook = self._wait(future, step.key, handle, cancelled)
        except Exception as exc:  # KilledWorker, a lost scheduler, an unpicklable value
            return _failed(start, _lost(exc), cancelled)
        finally:
            # a result still wanted would be computed again if its worker were lost later
            future.release()
        if notebook is not None:
            result = replace(result, timings=_write_notebook(task, notebook))
        return result

    def _wait(
        self, future: Any, key: str, handle: KernelHandle, cancelled: Callable[[], bool]
    ) -> tuple[StepResult, str | None]:
        # Not ``future.result(timeout=POLL)``: distributed runs that through
        # ``asyncio.timeout``, which on Python 3.11 can end in a CancelledError its
        # ``sync`` does not catch, so a step that ran was recorded as failed with
        # "UnboundLocalError: … 'result'". The result is asked for once it is done.
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        deadline = None
        while True:
            if done.wait(POLL):
                value: tuple[StepResult, str | None] = future.result()
                return value
            if deadline is None and (cancelled() or handle.reason is not None):
                reason = handle.reason or "cancelled: the run was interrupted"
                self.client.run(stop_remote, key, reason)
                deadline = time.monotonic() + STOP_GRACE
            elif deadline is not None and time.monotonic() > deadline:
                future.cancel()
                raise ExecutionError(f"the worker did not stop step attempt {key}")


def _remote_step(task: StepTask) -> RemoteStep:
    run_id = task.env.get("NBFLOW_RUN_ID", "run")
    return RemoteStep(
        key=f"nbflow-{run_id}-{task.step_id}-{uuid.uuid4().hex[:8]}",
        step_id=task.step_id,
        notebook=task.notebook.read_text(encoding="utf-8"),
        name=task.output.name,
        cwd=str(task.cwd),
        parameters=dict(task.parameters),
        kernel=task.kernel,
        timeout=task.timeout,
        env=dict(task.env),
        log_output=task.log_output,
    )


def _write_notebook(task: StepTask, text: str) -> dict[str, Any] | None:
    """Write the executed notebook as execute_step would have: paths named for the
    coordinator, secrets masked."""
    notebook = json.loads(text)
    meta = notebook.get("metadata", {}).get("papermill")
    if isinstance(meta, dict):
        meta.update(input_path=str(task.notebook), output_path=str(task.output))
    return write_executed(task, redact_notebook(task, notebook))


def _lost(exc: Exception) -> StepError:
    name = type(exc).__name__
    if name == "KilledWorker":
        return StepError(name, f"the Dask worker running the step was lost: {exc}")
    return StepError(name, f"the step did not run on the Dask cluster: {exc}")


def _failed(start: str, error: StepError, cancelled: Callable[[], bool]) -> StepResult:
    status = StepStatus.CANCELLED if cancelled() else StepStatus.FAILED
    end = utc_now()
    duration = round((parse_time(end) - parse_time(start)).total_seconds(), 3)
    return StepResult(status, start, end, duration, error)


def _quiet_distributed() -> None:
    """Importing distributed sets its loggers to INFO: a screenful of cluster start-up
    and shutdown lines around every run. Keep its warnings, and the rest at ``-vv``."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("distributed").setLevel(logging.WARNING)


@contextlib.contextmanager
def dask_executor(scheduler: str | None = None) -> Iterator[DaskExecutor]:
    """A DaskExecutor on the cluster at ``scheduler``, or on a ``LocalCluster`` of
    :data:`LOCAL_WORKERS` worker processes started (and closed) for the run."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            "--executor dask needs Dask: pip install 'nbflow-workflows[dask]'"
        ) from None
    _quiet_distributed()
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout=30)
        else:
            cluster = LocalCluster(n_workers=LOCAL_WORKERS, processes=True, threads_per_worker=1)
            client = Client(cluster)
    except OSError as exc:
        raise ExecutionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    log.info(
        "steps run on the Dask cluster at %s (dashboard: %s)",
        client.scheduler.address,
        client.dashboard_link,
    )
    try:
        yield DaskExecutor(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
