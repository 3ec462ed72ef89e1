"""One step's (or one item's) attempts, on a worker thread: retries, timeouts,
cancellation.

Each attempt is one call of the run's :data:`Executor` (by default
:func:`~nbflow.engine.step.execute_step`, a local kernel) with a fresh
:class:`KernelHandle`, through which the run stops a kernel from another thread: a
whole-step timeout is the executor's watchdog, cancellation is :meth:`Attempts.stop`.
A failed attempt is retried after ``retry_delay``, doubled each time. A notebook
that cannot be written (a full disk) is not the step's failure: the run stops.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from nbflow.engine.step_task import KernelHandle, StepResult, StepTask
from nbflow.errors import NbflowError, WriteError
from nbflow.manifest.model import Step
from nbflow.report.notebook_html import write_step_html
from nbflow.run_record import (
    Attempt,
    ItemRecord,
    StepError,
    StepRecord,
    StepStatus,
    seconds_between,
    utc_now,
)
from nbflow.store import runs
from nbflow.store.notebooks import clean_notebook

log = logging.getLogger(__name__)

#: Executes one attempt: ``(task, handle, cancelled) -> result``.
Executor = Callable[[StepTask, KernelHandle, Callable[[], bool]], StepResult]


class Attempts:
    """Executes the attempts of a run's steps and items, and stops them."""

    def __init__(self, executor: Executor, root: Path) -> None:
        self.executor, self.root = executor, root
        self.cancel = threading.Event()
        self.handles: dict[str, KernelHandle] = {}
        # the first file that could not be written (a full disk): the run stops
        self.write_error: WriteError | None = None

    def run_step(self, step: Step, task: StepTask, current: StepRecord) -> StepRecord:
        """Execute ``step`` as ``task`` with its retries; its final record."""
        earlier = list(current.attempts)  # of the run this one resumes
        new, result, written = self._execute(step, task, len(earlier))
        timings = self._timings(task, written)
        html = self._html(step, task)
        current = replace(current, timings=timings, notebook=_written(task), html=html)
        attempts = earlier + new
        start = attempts[0].start if attempts else current.start
        return replace(
            current,
            status=result.status,
            attempts=tuple(attempts),
            start=start,
            end=result.end,
            duration=_time_spent(earlier, new, result.end) if start else None,
            error=result.error,
            outputs=result.outputs,
        )

    def run_item(self, step: Step, item: ItemRecord, task: StepTask) -> ItemRecord:
        """Execute one item of a foreach step with the step's retries."""
        threading.current_thread().name = task.step_id  # names the item in streamed output
        new, result, written = self._execute(step, task, len(item.attempts))
        timings = self._timings(task, written)
        attempts = (*item.attempts, *new)
        start = attempts[0].start if attempts else item.start
        return replace(
            item,
            status=result.status,
            attempts=attempts,
            start=start,
            end=result.end,
            duration=_time_spent(item.attempts, new, result.end),
            error=result.error,
            outputs=result.outputs,
            timings=timings,
            notebook=_written(task),
            html=self._html(step, task),
        )

    def stop(self, reason: str) -> None:
        """Stop every attempt: running kernels are stopped with ``reason``, no retry starts."""
        self.cancel.set()
        for handle in list(self.handles.values()):
            handle.stop(reason)

    def note_write_error(self, exc: WriteError) -> None:
        """A file of a step could not be written; stop the run."""
        self.write_error = self.write_error or exc
        self.cancel.set()

    def _execute(
        self, step: Step, task: StepTask, earlier: int
    ) -> tuple[list[Attempt], StepResult, dict[str, Any] | None]:
        """Execute ``task`` with ``step``'s retries; its attempts (numbered after
        ``earlier`` ones), the last result, and what cleaning moved out of the
        notebook last written (None: no attempt wrote one cleaned)."""
        attempts: list[Attempt] = []
        written = None
        for number in range(1, step.retries + 2):
            if number > 1 and not self._wait_before_retry(step, number, earlier):
                break
            handle = self.handles[str(task.output)] = KernelHandle()  # item names may repeat
            result = self._execute_once(task, handle)
            written = written if result.timings is None else result.timings
            attempts.append(
                Attempt(
                    earlier + number,
                    result.start,
                    result.end,
                    result.duration,
                    result.status,
                    result.error,
                )
            )
            if result.status != StepStatus.FAILED:
                break
            log.info(
                "%s: attempt %d failed: %s",
                task.step_id,
                earlier + number,
                result.error and result.error.summary,
            )
        self.handles.pop(str(task.output), None)
        return attempts, result, written

    def _execute_once(self, task: StepTask, handle: KernelHandle) -> StepResult:
        """One attempt; failed when its notebook could not be written (the run stops)."""
        start, started = utc_now(), time.monotonic()
        try:
            return self.executor(task, handle, self.cancel.is_set)
        except (WriteError, OSError) as raised:
            if not isinstance(raised, WriteError) and not runs.is_out_of_room(raised):
                raise
            exc = raised if isinstance(raised, WriteError) else _cannot_write(task, raised)
            self.note_write_error(exc)
            error = StepError(type(exc).__name__, str(exc))
            seconds = round(time.monotonic() - started, 3)
            return StepResult(StepStatus.FAILED, start, utc_now(), seconds, error)

    def _timings(self, task: StepTask, written: dict[str, Any] | None) -> dict[str, Any]:
        """The volatile metadata moved out of the executed notebook (store/notebooks.py):
        as the attempt that wrote it cleaned it, else cleaned now (an executor that
        writes notebooks as they are, or one left by the process a resumed run ran in)."""
        if written is not None:
            return written
        try:
            return clean_notebook(task.output, root=self.root)
        except WriteError as exc:
            self.note_write_error(exc)
            return {}

    def _html(self, step: Step, task: StepTask) -> str:
        """The HTML copy of the executed notebook the step's ``report:`` asks for, made
        once the notebook is written masked and clean (report/notebook_html.py)."""
        if not task.output.is_file():
            return ""
        try:
            return write_step_html(step.report, task.output)
        except WriteError as exc:
            self.note_write_error(exc)
            return ""

    def _wait_before_retry(self, step: Step, number: int, earlier: int) -> bool:
        """Wait before this process's attempt ``number`` (after ``earlier`` ones of the
        run it resumes); False when the run is cancelled meanwhile."""
        delay = step.retry_delay * 2 ** (number - 2)
        total = earlier + step.retries + 1
        log.info("%s: retrying in %g s (attempt %d of %d)", step.id, delay, earlier + number, total)
        return not self.cancel.wait(delay)


def failed_to_start(current: StepRecord, exc: NbflowError) -> StepRecord:
    """``current`` failed before any attempt (its parameters cannot be resolved)."""
    error = StepError(type(exc).__name__, str(exc))
    return replace(current, status=StepStatus.FAILED, error=error, end=utc_now())


def _cannot_write(task: StepTask, exc: OSError) -> WriteError:
    """The WriteError of a full disk met executing ``task``: the file, when the error
    names it, else the folder papermill and the kernel write into."""
    where = exc.filename or task.scratch or task.output.parent
    return runs.cannot_write(Path(os.fsdecode(where)), exc)


def _time_spent(earlier: Sequence[Attempt], new: Sequence[Attempt], end: str) -> float | None:
    """A step's (or item's) duration: the time of the attempts an earlier process
    made (a run resumed) plus this process's, from its first attempt's start to
    ``end`` (retry delays included) — never the idle time between two processes."""
    before = sum(a.duration for a in earlier)
    if not new:
        return round(before, 3) if earlier else None
    return round(before + seconds_between(new[0].start, end), 3)


def _written(task: StepTask) -> str:
    """The executed notebook's name, or "" when no attempt wrote it (a Dask worker lost
    before returning it): the record links only notebooks in the run folder."""
    return task.output.name if task.output.is_file() else ""
