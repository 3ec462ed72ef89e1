"""Walk a Plan: ask what is ready, hand it out, collect the results.

The loop runs on the main thread and talks to one collaborator per concern:
:class:`Readiness` says which steps run, wait or are skipped (engine/readiness.py);
the cache answers the steps it can (engine/cache.py, engine/reuse.py for steps not
selected); a foreach step expands into items (engine/sweep.py); workers execute each
step's or item's attempts (engine/attempts.py); and every change goes through the
:class:`Recorder`, the single writer of run.json and the report (engine/recorder.py),
so an interrupted run leaves an accurate record behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbflow.engine.attempts import Attempts, Executor, failed_to_start
from nbflow.engine.cache import RunCache, StepCache
from nbflow.engine.gates import Gates
from nbflow.engine.kernel_names import check_kernels, resolve_kernels
from nbflow.engine.locks import workflow_lock
from nbflow.engine.loops import closing_loop
from nbflow.engine.papermill_load import load_papermill
from nbflow.engine.readiness import Readiness
from nbflow.engine.recorder import Recorder, RunObserver
from nbflow.engine.reuse import Lenders
from nbflow.engine.scratch import scratch_folder
from nbflow.engine.sla import SlaWatch
from nbflow.engine.start import RunOptions, finished_run, resume_run, start_run
from nbflow.engine.step_task import KernelHandle, StepResult, StepTask
from nbflow.engine.sweep import Sweeps
from nbflow.engine.tasks import Tasks
from nbflow.errors import NbflowError, WriteError
from nbflow.manifest.model import Step, Workflow
from nbflow.plan import Plan, downstream, plan_run
from nbflow.project import Project, project_of_manifest
from nbflow.run_record import (
    ItemRecord,
    RunRecord,
    RunStatus,
    SlaMiss,
    StepRecord,
    StepStatus,
    utc_now,
)
from nbflow.secrets import Redactor
from nbflow.store import runs

if TYPE_CHECKING:
    from nbflow.engine.kernels import KernelPool

__all__ = ["Executor", "RunObserver", "RunOptions", "run_workflow", "settle_record"]

log = logging.getLogger(__name__)

_TURN = 0.5  # seconds: the loop looks at gates, SLAs and the heartbeat at least this often


def run_workflow(
    workflow: Workflow,
    options: RunOptions | None = None,
    *,
    project: Project | None = None,
    observer: RunObserver | None = None,
    executor: Executor | None = None,
) -> RunRecord:
    """Run ``workflow`` and return its final record (never raises for a failed step).

    Steps execute here (engine/step.py's ``execute_step``, kernels warmed ahead)
    unless ``executor`` executes them elsewhere (Dask).

    With ``options.resume``, finish that earlier run instead: its succeeded steps keep
    their notebooks and outputs, the others run again, and the run keeps its id,
    folder, parameters and one record holding every attempt.
    """
    options = options or RunOptions()
    project = project or project_of_manifest(workflow.manifest)
    if options.resume and (finished := finished_run(project, workflow, options.resume)):
        log.info("run %s succeeded already: nothing left to resume", finished.run_id)
        return finished  # not a byte of its folder changes
    workflow = resolve_kernels(workflow)  # `python`, `Python3`: the kernel that runs
    start = resume_run if options.resume else start_run
    params, plan, record = start(workflow, project, options)  # bad input fails before any write
    check_kernels(s for s in workflow.steps if s.id in plan.selected)
    # a run for a tick (a resumed one: its logical time is not its start) locks the tick
    is_tick = options.logical_time if not options.resume else record.logical != record.start
    tick = record.logical_time if is_tick else None
    with (
        workflow_lock(project.runs_dir, workflow.name, tick),
        scratch_folder(project.root) as scratch,
    ):
        run = _Run(workflow, plan, project, options, params, record, observer, executor, scratch)
        return run.execute()


#: A step or item to start: its step's id, the work, and its arguments.
_Start = tuple[str, Callable[..., Any], tuple[Any, ...]]


class _Run:
    """One run while it executes: the loop, and the collaborators it asks."""

    def __init__(
        self,
        workflow: Workflow,
        plan: Plan,
        project: Project,
        options: RunOptions,
        params: dict[str, Any],
        record: RunRecord,
        observer: RunObserver | None,
        executor: Executor | None,
        scratch: Path | None = None,
    ) -> None:
        self.workflow, self.project, self.jobs = workflow, project, max(1, options.jobs)
        folder = runs.run_dir(project.runs_dir, workflow.name, record.run_id)
        redactor = Redactor.from_environment(workflow.secrets, os.environ)
        self.recorder = Recorder(folder, record, redactor, observer, self._discard_kernel)
        self.readiness = Readiness(
            workflow, plan, self.recorder.step, self.recorder.update, self.recorder.watch
        )
        self.tasks = Tasks(
            workflow,
            params,
            folder=folder,
            root=project.root,
            run_context=record.run_context,
            step_parameters=options.step_parameters,
            given=tuple(options.parameters),
            log_output=options.log_output,
            redactor=redactor,
            scratch=scratch,
            records=self.recorder.step,
            is_selected=self.readiness.is_selected,
        )
        # warm kernels, one per coming step, forked from a template with the run's env,
        # made once a step is to execute here (_claim); none when steps execute elsewhere
        self.here = _executes_here(executor)
        self.kernels: KernelPool | None = None
        forced = downstream(workflow, options.force_steps) if options.force_steps else set()
        self.cache = RunCache(
            workflow,
            self.tasks,
            self.recorder,
            StepCache(project.runs_dir, workflow.name, record.run_id),
            enabled=options.cached,
            forced=lambda step_id: options.force or step_id in forced,
        )
        self.lenders = Lenders(self.readiness, self.tasks, self.cache, self.recorder)
        self.sweeps = Sweeps(workflow, params, self.tasks, self.cache, self.recorder, options.items)
        self.attempts = Attempts(executor or _execute_here, project.root)
        self.gates = Gates(
            workflow.directory, self.tasks.context, self.recorder.step, self.recorder.update
        )
        self.slas = SlaWatch(workflow, self._notify_sla_miss)
        self.started_kernels = False

    # -- the loop --------------------------------------------------------------

    def execute(self) -> RunRecord:
        self.lenders.find(self.project.runs_dir)
        self.recorder.start()
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="step")
        running: dict[Future[Any], str] = {}
        try:
            with _sigterm_as_interrupt():
                self._loop(pool, running)
        except KeyboardInterrupt:
            self._cancel(running)
        except WriteError as exc:
            raise self._stop_writing(running, exc) from exc
        except BaseException:
            self._cancel(running)  # a bug: still leave a final record behind
            self._finish()
            raise
        finally:
            self.gates.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            if self.kernels:
                self.kernels.close()  # kills warm kernels and any a step left behind
            self.slas.close()
        return self._finish()

    def _loop(self, pool: ThreadPoolExecutor, running: dict[Future[Any], str]) -> None:
        finished: Iterable[Future[Any]] = ()
        while True:
            # one save for the turn: the steps that finished and those they let start
            with self.recorder.deferred_saves():
                for future in finished:
                    self._record_result(running.pop(future), future.result())
                    if self.attempts.write_error:
                        raise self.attempts.write_error  # its dependants are cancelled
                    self.readiness.skip_dependants()
                starting, settled = self._claim(running)
            # saved: a step that finished is on disk before a step needing it starts
            for step_id, work, args in starting:
                running[self._submit(pool, work, *args)] = step_id
            finished = ()
            if not running:
                if settled:
                    continue  # a sweep settled at once may have made its dependants ready
                if not self.gates.waiting:
                    return
                time.sleep(_TURN / 5)  # only steps waiting for their paths (engine/gates.py)
                self.recorder.heartbeat()
                self._check_slas()
                continue
            self._warm_ahead(running.values())
            finished, _ = wait(list(running), timeout=_TURN, return_when=FIRST_COMPLETED)
            self.recorder.heartbeat()
            self._check_slas()

    def _claim(self, running: dict[Future[Any], str]) -> tuple[list[_Start], bool]:
        """The steps and items to start now, each recorded as running (for as many
        workers as are free), and whether a foreach step settled at once."""
        settled, starting = False, list[_Start]()
        free = self.jobs - len(running)
        ready = self._ready(running.values())
        if ready and self.here and not self.kernels:  # before any task that may execute
            self.kernels = self.tasks.kernels = _kernel_pool(self.jobs + 1, self.tasks.run_env())
        for step in ready:
            if step.is_sweep:
                settled |= self._expand(step)
            elif len(starting) < free:  # else it stays pending until a worker is free
                self.recorder.update(
                    replace(self._step(step.id), status=StepStatus.RUNNING, start=utc_now())
                )
                starting.append((step.id, self._execute_step, (step,)))
        while self.sweeps.queued and len(starting) < free:
            step, item, task = self.sweeps.start_next()
            starting.append((step.id, self.attempts.run_item, (step, item, task)))
        return starting, settled

    def _ready(self, running: Iterable[str]) -> list[Step]:
        """The steps ready to execute, once those the cache answers are settled (which
        may make their dependants ready too); the record is saved once for all hits."""
        busy, hits = list(running), []

        def settle(step: Step) -> bool:
            if self.cache.settle(step):
                hits.append(step.id)
                return True
            return False

        gated: list[str] = []  # steps a gate skipped or failed: ask once more

        def admit(step: Step) -> bool:
            if self.gates.admit(step):
                return True
            if self._step(step.id).status.is_final:
                gated.append(step.id)
            return False

        with self.recorder.deferred_saves():
            while True:  # a settled step may let a lender decide: ask once more
                hits.clear()
                self.lenders.decide()
                gated.clear()
                ready = self.readiness.ready(busy, settle, admit)
                if not hits and not gated:
                    return ready

    def _check_slas(self) -> None:
        """Record (and notify, off this thread) the SLAs missed since the last turn."""
        record = self.recorder.record
        checked = self.slas.check(record, self.gates.waiting, self.recorder.running)
        if checked is not record:
            for miss in checked.sla_misses[len(record.sla_misses) :]:
                log.warning("%s: %s missed its SLA", self.workflow.name, miss.what)
            self.recorder.note(checked)

    def _notify_sla_miss(self, record: RunRecord, miss: SlaMiss) -> None:
        from nbflow.notify import notify_sla_miss

        notify_sla_miss(self.workflow, record, miss, env=os.environ)

    def _expand(self, step: Step) -> bool:
        """Expand a foreach step; True when it settled at once."""
        if not self.sweeps.expand(step):
            return False
        self.readiness.skip_dependants()
        return True

    def _submit(
        self, pool: ThreadPoolExecutor, work: Callable[..., Any], *args: Any
    ) -> Future[Any]:
        """``pool.submit``; before the first step executes, start the kernel template
        and import papermill while it starts (on this thread, before any step or
        kernel thread imports jupyter_client). A run whose steps are all cached
        does neither."""
        if self.kernels and not self.started_kernels:
            self.started_kernels = True
            self.kernels.start()
            load_papermill()
        return pool.submit(closing_loop(work), *args)

    def _execute_step(self, step: Step) -> StepRecord:
        """On a worker thread: ``step``'s task, executed with its retries."""
        threading.current_thread().name = step.id  # names the step in streamed output
        current = self._step(step.id)
        try:
            task = self.tasks.task(step)
        except NbflowError as exc:
            return failed_to_start(current, exc)
        fingerprint = self.cache.known_fingerprint(step, task)
        current = replace(
            current,
            parameters=dict(task.parameters),
            notebook=task.output.name,
            fingerprint=fingerprint,
        )
        return self.attempts.run_step(step, task, current)

    def _record_result(self, step_id: str, result: StepRecord | ItemRecord) -> None:
        if isinstance(result, ItemRecord):
            self.sweeps.update_item(step_id, result)
        else:
            self.recorder.update(result)

    def _step(self, step_id: str) -> StepRecord:
        return self.recorder.step(step_id)

    # -- kernels warmed ahead ------------------------------------------------------

    def _warm_ahead(self, running: Iterable[str]) -> None:
        """Start kernels for the pending steps that running steps will make ready."""
        if not self.kernels:
            return
        busy = set(running)
        for step in self.readiness.soon(busy):
            if self.kernels.warming() >= self.kernels.size:
                return
            if self.cache.is_worth_warming(step, busy):
                self.kernels.warm(self.tasks.kernel_spec(step))

    def _discard_kernel(self, step_id: str) -> None:
        """A step skipped or cancelled: the kernel warmed for it goes."""
        if self.kernels:
            self.kernels.discard(self.tasks.kernel_spec(self.workflow.step(step_id)))

    # -- the end -----------------------------------------------------------------

    def _cancel(self, running: dict[Future[Any], str], why: str = "interrupted") -> None:
        """Stop the run: running steps are stopped, the others cancelled; the record
        says the run was ``why``."""
        log.warning("the run was %s: stopping %d running step(s)", why, len(running))
        self.sweeps.queued.clear()
        self.attempts.stop(f"cancelled: the run was {why}")
        for future, step_id in list(running.items()):
            with contextlib.suppress(Exception):
                self._record_result(step_id, future.result())
        self._cancel_unfinished(f"the run was {why}")

    def _stop_writing(self, running: dict[Future[Any], str], exc: WriteError) -> WriteError:
        """A file could not be written (a full disk): stop the steps still running,
        record what is true as far as it can still be written — steps that ran keep
        their status, the one whose notebook was lost failed, the others were
        cancelled — and return the error to raise: the file, and how to finish."""
        error = self.attempts.write_error = self.attempts.write_error or exc
        self.recorder.best_effort = True
        with self.recorder.deferred_saves():  # one try at the final record, not one per change
            self._cancel(running, f"stopped: {error}")
            self._finish()
        finish = ""
        if (self.recorder.folder / runs.RECORD_FILE).is_file():
            run_id = self.recorder.record.run_id
            finish = f"; once there is room, finish it with `nbflow run --resume {run_id}`"
        return WriteError(f"{error}; the run stopped{finish}")

    def _cancel_unfinished(self, reason: str) -> None:
        """Record every item and step not final yet as cancelled, for ``reason``."""
        for step in self.recorder.record.steps:
            for item in step.items:
                if not item.status.is_final:
                    cancelled = replace(item, status=StepStatus.CANCELLED, reason=reason)
                    self.sweeps.update_item(step.id, cancelled)
            step = self._step(step.id)
            if not step.status.is_final:
                self.recorder.update(replace(step, status=StepStatus.CANCELLED, reason=reason))

    def _finish(self) -> RunRecord:
        statuses = {s.status for s in self.recorder.record.steps}
        if self.attempts.write_error:
            status = RunStatus.FAILED  # nbflow could not go on, nobody interrupted it
        elif StepStatus.CANCELLED in statuses or self.attempts.cancel.is_set():
            status = RunStatus.CANCELLED
        elif StepStatus.FAILED in statuses:
            status = RunStatus.FAILED
        else:
            status = RunStatus.SUCCEEDED
        return self.recorder.finish(status)


def _executes_here(executor: Executor | None) -> bool:
    """Whether steps execute in this process: no executor given, or engine/step.py's
    ``execute_step`` given (its module is then imported already)."""
    step = sys.modules.get("nbflow.engine.step")
    return executor is None or (step is not None and executor is step.execute_step)


def _execute_here(
    task: StepTask, handle: KernelHandle, cancelled: Callable[[], bool]
) -> StepResult:
    """engine/step.py's ``execute_step``, imported once a step executes (``_kernel_pool``
    imported it on this thread first): a run whose steps are all cached imports neither
    papermill's side nor the kernel modules."""
    from nbflow.engine.step import execute_step

    return execute_step(task, handle, cancelled)


def _kernel_pool(size: int, env: dict[str, str]) -> KernelPool:
    from nbflow.engine import step  # noqa: F401 - imported here, not on a worker thread
    from nbflow.engine.kernels import KernelPool

    return KernelPool(size, env)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a run executes (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def settle_record(
    workflow: Workflow, record: RunRecord, project: Project, missing: str
) -> RunRecord:
    """Finish a run whose steps executed elsewhere (engine/pieces.py, assemble.py), as
    this runner would: a step that needs a failed or skipped one is skipped with the
    same reason, a step left pending is cancelled with reason ``missing`` (a foreach
    step: its items left pending); the run's status is computed, and record and
    report are saved in its run folder."""
    plan = plan_run(workflow)
    run = _Run(workflow, plan, project, RunOptions(), record.parameters, record, None, None)
    with run.recorder.deferred_saves():  # one write of record and report, not one per change
        run.readiness.skip_dependants()
        run._cancel_unfinished(missing)
        return run._finish()
