"""Walk a Plan: parallel branches, retries, timeouts, cancellation.

The runner is the single writer of the run record. Steps execute on worker
threads through an :class:`Executor` (by default :func:`execute_step`, a local
kernel per step); the main thread decides what is ready, resolves parameters once
the steps a step needs have finished, and saves the record and report after every
change, so an interrupted run leaves an accurate record behind.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from nbflow.engine import fingerprint as fp
from nbflow.engine.cache import StepCache
from nbflow.engine.kernels import KernelPool, KernelSpec, check_kernels, resolve_kernels
from nbflow.engine.locks import workflow_lock
from nbflow.engine.loops import closing_loop
from nbflow.engine.parameters import (
    resolve_foreach,
    resolve_globs,
    resolve_run_parameters,
    resolve_step_parameters,
)
from nbflow.engine.reuse import EarlierResult, refusal
from nbflow.engine.scratch import scratch_folder
from nbflow.engine.step import (
    KernelHandle,
    StepResult,
    StepTask,
    execute_step,
    load_papermill,
)
from nbflow.engine.sweep import item_notebook, settle_sweep
from nbflow.errors import NbflowError, WriteError
from nbflow.git.provenance import InputTree, check_clean, input_tree, warn_if_dirty
from nbflow.manifest.model import Step, Workflow
from nbflow.manifest.notebooks import NotebookError, inspect_notebook
from nbflow.manifest.values import jsonable
from nbflow.plan import Plan, check_step_ids, downstream, plan_run, upstream
from nbflow.project import Project, project_of_manifest
from nbflow.run_record import (
    RUN_THOUGH_NOT_SELECTED,
    Attempt,
    ItemRecord,
    RunRecord,
    RunStatus,
    StepError,
    StepRecord,
    StepStatus,
    iso_utc,
    parse_time,
    utc_now,
)
from nbflow.secrets import TOKEN_VARIABLES, Redactor
from nbflow.store import runs
from nbflow.store.notebooks import clean_notebook

log = logging.getLogger(__name__)

Executor = Callable[[StepTask, KernelHandle, Callable[[], bool]], StepResult]


class RunObserver(Protocol):
    """Told about every change of a run, on the thread that runs it."""

    def run_started(self, record: RunRecord) -> None: ...

    def step_changed(self, record: RunRecord, step: StepRecord) -> None: ...

    def run_finished(self, record: RunRecord) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """How to run a workflow; the defaults run every step once."""

    parameters: Mapping[str, Any] = field(default_factory=dict)  # overrides, typed
    step_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    steps: Sequence[str] | None = None
    trigger: str = "manual"
    jobs: int = os.cpu_count() or 1
    log_output: bool = False
    run_id: str | None = None
    now: datetime | None = None  # the run's clock, for the run id and its start
    # the moment the run is for (a schedule tick), for `today`/`now`; default: ``now``
    logical_time: datetime | None = None
    resume: str | None = None  # the id of an earlier run to finish
    cached: bool = False  # reuse unchanged results for steps whose manifest leaves `cache` unset
    force: bool = False  # execute every step, whatever the cache holds
    force_steps: Sequence[str] = ()  # execute these steps and their dependants
    # execute only these items of a foreach step (by index); its others stay pending
    items: Mapping[str, frozenset[int]] = field(default_factory=dict)
    # refuse to start from uncommitted changes (so does `require_clean: true` in nbflow.yaml)
    require_clean: bool = False


def run_workflow(
    workflow: Workflow,
    options: RunOptions | None = None,
    *,
    project: Project | None = None,
    observer: RunObserver | None = None,
    executor: Executor = execute_step,
) -> RunRecord:
    """Run ``workflow`` and return its final record (never raises for a failed step).

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
    start = _resume if options.resume else _start
    params, plan, record = start(workflow, project, options)  # bad input fails before any write
    check_kernels(s for s in workflow.steps if s.id in plan.selected)
    with workflow_lock(project.runs_dir, workflow.name), scratch_folder(project.root) as scratch:
        run = _Run(workflow, plan, project, options, params, record, observer, executor, scratch)
        return run.execute()


_Start = tuple[dict[str, Any], Plan, RunRecord]


def finished_run(project: Project, workflow: Workflow, run_id: str) -> RunRecord | None:
    """The record of run ``run_id`` when it succeeded: resuming it has nothing to do."""
    record = runs.read_record(runs.run_dir(project.runs_dir, workflow.name, run_id))
    return record if record.status == RunStatus.SUCCEEDED else None


def _start(workflow: Workflow, project: Project, options: RunOptions) -> _Start:
    now = options.now or datetime.now(UTC)
    logical = options.logical_time or now  # on the schedule's zone: `today` is its date
    params = resolve_run_parameters(workflow, options.parameters, logical)
    plan = plan_run(workflow, options.steps)
    check_step_ids(workflow, options.force_steps)
    tree = _input_tree(workflow, project, options)
    record = RunRecord(
        workflow=workflow.name,
        run_id=options.run_id or runs.new_run_id(now),
        status=RunStatus.RUNNING,
        trigger=options.trigger,
        start=iso_utc(now),
        logical_time=iso_utc(logical),
        commit=tree.commit,
        uncommitted=tree.uncommitted,
        parameters=params,
        steps=tuple(_initial_step(s, plan, workflow) for s in workflow.steps),
        manifest=project.relative(workflow.manifest),
        pid=os.getpid(),
    )
    return params, plan, record


def _input_tree(
    workflow: Workflow, project: Project, options: RunOptions, commit: str | None = None
) -> InputTree:
    """The commit the run starts from (a resumed run: its own) and the changes to its
    inputs since: refused with ``require_clean``, else warned about."""
    tree = input_tree(workflow, project, commit)
    if options.require_clean or project.require_clean:
        check_clean(tree, workflow)
    warn_if_dirty(tree, workflow)
    return tree


def _resume(workflow: Workflow, project: Project, options: RunOptions) -> _Start:
    assert options.resume is not None
    folder = runs.run_dir(project.runs_dir, workflow.name, options.resume)
    prior = runs.read_record(folder)
    last_seen = _timestamp((folder / runs.RECORD_FILE).stat().st_mtime)
    done = {s.id for s in prior.steps if s.status.is_done}
    plan = plan_run(workflow, options.steps, done=dict.fromkeys(done))
    known = {s.id: _cut_short(s, last_seen) for s in prior.steps}
    steps = tuple(
        known[s.id] if s.id in done else _initial_step(s, plan, workflow, known.get(s.id))
        for s in workflow.steps
    )
    tree = _input_tree(workflow, project, options, prior.commit)
    uncommitted = tuple(sorted({*prior.uncommitted, *tree.uncommitted}))
    resumed = replace(
        prior,
        status=RunStatus.RUNNING,
        end=None,
        duration=None,
        pid=os.getpid(),
        steps=steps,
        uncommitted=uncommitted,
    )
    return dict(prior.parameters), plan, resumed


def output_names(workflow: Workflow, step: Step) -> list[str]:
    """The outputs a step records or declares, for a sweep's list of each."""
    try:
        records = inspect_notebook(workflow.notebook_path(step)).records
    except (OSError, ValueError, NbflowError):
        records = ()
    return [*records, *step.outputs]


def _done_before(item: ItemRecord, earlier: ItemRecord | None) -> ItemRecord:
    """``earlier`` when the run being resumed finished that item with the same value
    and parameters (its notebook is in the run folder), else ``item`` with the
    attempts ``earlier`` made."""
    if earlier is None:
        return item
    same = jsonable([earlier.value, earlier.parameters]) == jsonable([item.value, item.parameters])
    if not same:
        return item
    return earlier if earlier.status.is_done else replace(item, attempts=earlier.attempts)


def _cut_short(step: StepRecord, last_seen: str) -> StepRecord:
    """A step left ``running`` by a process that died (``kill -9``, a crash): record
    the attempt it was making as cancelled, ending when that process was last seen
    alive (run.json's modification time, which the run touches while steps run)."""
    if step.status != StepStatus.RUNNING or not step.start:
        return step
    end = max(last_seen, step.start)
    error = StepError("Cancelled", "the run was interrupted (its process is gone)")
    number = len(step.attempts) + 1
    cut = Attempt(number, step.start, end, _seconds(step.start, end), StepStatus.CANCELLED, error)
    return replace(step, attempts=(*step.attempts, cut))


def _timestamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _upgraded_from(workflow: Workflow, step: Step) -> str:
    """The nbformat version nbflow upgrades the step's notebook from, e.g. "3.0"."""
    try:
        return inspect_notebook(workflow.notebook_path(step)).upgraded_from or ""
    except NotebookError:  # the step will report it
        return ""


def _initial_step(
    step: Step, plan: Plan, workflow: Workflow, before: StepRecord | None = None
) -> StepRecord:
    """A step as a run starts: pending when selected, with the attempts of an
    interrupted run it resumes."""
    selected = step.id in plan.selected
    return StepRecord(
        id=step.id,
        status=StepStatus.PENDING if selected else StepStatus.SKIPPED,
        needs=step.needs,
        source_notebook=step.notebook,
        kernel=step.kernel,
        upgraded_from=_upgraded_from(workflow, step) if selected else "",
        attempts=before.attempts if before else (),
        items=before.items if before and selected else (),  # done items are kept
        reason="" if selected else "not selected",
    )


class _Run:
    """The state of one run while it executes."""

    def __init__(
        self,
        workflow: Workflow,
        plan: Plan,
        project: Project,
        options: RunOptions,
        params: dict[str, Any],
        record: RunRecord,
        observer: RunObserver | None,
        executor: Executor,
        scratch: Path | None = None,
    ) -> None:
        self.workflow, self.plan, self.project, self.options = workflow, plan, project, options
        self.params, self.observer, self.executor = params, observer, executor
        self.dir = runs.run_dir(project.runs_dir, workflow.name, record.run_id)
        self.run_context = record.run_context
        self.cancel = threading.Event()
        self.scratch = scratch  # this process's scratch folder (engine/scratch.py)
        self.redactor = Redactor.from_environment(workflow.secrets, os.environ)
        self.handles: dict[str, KernelHandle] = {}
        self.record = replace(record, parameters=self.redactor.data(record.parameters))
        # warm kernels, one per coming step, forked from a template with the run's env;
        # none when steps execute elsewhere (Dask)
        self.kernels = (
            KernelPool(max(1, options.jobs) + 1, self._run_env())
            if executor is execute_step
            else None
        )
        self.cache = StepCache(project.runs_dir, workflow.name, record.run_id)
        self.forced = downstream(workflow, options.force_steps) if options.force_steps else set()
        self.fingerprints: dict[str, str | None] = {}  # computed before a step executes
        self.missed: set[str] = set()  # looked up in the cache, not found
        self.earlier_outputs: dict[str, Mapping[str, Any]] = {}  # of steps not selected
        # steps not selected whose outputs selected steps use, with their latest result,
        # until it is decided whether that result stands in (engine/reuse.py)
        self.lenders: dict[str, EarlierResult | None] = {}
        self.started_kernels = False
        self.saves_deferred = self.save_pending = False
        # the first file that could not be written (a full disk): the run stops, and
        # from then on saving the record is best effort (_stop_writing)
        self.write_error: WriteError | None = None
        self.saves_best_effort = False
        self.queued: collections.deque[tuple[Step, int, StepTask]] = collections.deque()

    # -- the loop --------------------------------------------------------------

    def execute(self) -> RunRecord:
        self._find_lenders()
        self._save()
        if self.observer:
            self.observer.run_started(self.record)
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="step")
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
            pool.shutdown(wait=True, cancel_futures=True)
            if self.kernels:
                self.kernels.close()  # kills warm kernels and any a step left behind
        return self._finish()

    def _loop(self, pool: ThreadPoolExecutor, running: dict[Future[Any], str]) -> None:
        while True:
            settled = False
            for step in self._ready_to_execute(running.values()):
                if step.is_sweep:
                    settled |= self._expand(step)
                    continue
                if len(running) >= max(1, self.options.jobs):
                    continue  # stays pending, not "running", until a worker is free
                self._update(
                    replace(self._step(step.id), status=StepStatus.RUNNING, start=utc_now())
                )
                running[self._submit(pool, self._attempts, step)] = step.id
            self._submit_items(pool, running)
            if not running:
                if settled:
                    continue  # a sweep settled at once may have made its dependants ready
                return
            self._warm_ahead(running.values())
            finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            self._heartbeat()
            for future in finished:
                self._record_result(running.pop(future), future.result())
                if self.write_error:
                    raise self.write_error  # its dependants are cancelled, not skipped
                self._skip_dependants()

    def _record_result(self, step_id: str, result: StepRecord | ItemRecord) -> None:
        if isinstance(result, ItemRecord):
            self._update_item(step_id, result)
        else:
            self._update(result)

    # -- sweeps (engine/sweep.py) ------------------------------------------------

    def _expand(self, step: Step) -> bool:
        """Resolve a foreach step's items and queue those to execute; True when the
        step settled at once (its list could not be resolved, is empty, or every item
        is done already).

        An item the run being resumed finished with the same value and parameters
        keeps its notebook and outputs; with ``options.items``, only the items listed
        for this step execute and the others stay pending (a matrix job runs a share
        of the items; ``nbflow assemble`` joins the shares)."""
        earlier = {i.index: i for i in self._step(step.id).items}
        current = replace(self._step(step.id), start=utc_now(), attempts=(), error=None)
        outputs = self._upstream_outputs(step)
        try:
            values = resolve_foreach(self.workflow, step, self.params, outputs, self.run_context)
            tasks = [self._task(step, (index, value)) for index, value in enumerate(values)]
        except NbflowError as exc:
            error = StepError(type(exc).__name__, str(exc))
            failed = replace(current, status=StepStatus.FAILED, error=error, end=current.start)
            self._update(replace(failed, duration=0.0))
            self._skip_dependants()
            return True
        items = tuple(
            _done_before(
                ItemRecord(
                    index, value, notebook=task.output.name, parameters=dict(task.parameters)
                ),
                earlier.get(index),
            )
            for index, (value, task) in enumerate(zip(values, tasks, strict=True))
        )
        items = self._cached_items(step, items, tasks)
        chosen = self.options.items.get(step.id)
        queue = [
            (step, item.index, task)
            for item, task in zip(items, tasks, strict=True)
            if not item.status.is_done and (chosen is None or item.index in chosen)
        ]
        log.info("%s: %d item(s), %d to execute", step.id, len(items), len(queue))
        self._update(replace(current, status=StepStatus.RUNNING, items=items))
        self.queued.extend(queue)
        if all(i.status.is_done for i in items):
            self._update(settle_sweep(self._step(step.id), output_names(self.workflow, step)))
            self._skip_dependants()
            return True
        return False

    def _submit_items(self, pool: ThreadPoolExecutor, running: dict[Future[Any], str]) -> None:
        """Start queued items while fewer than ``--jobs`` executions are running."""
        while self.queued and len(running) < max(1, self.options.jobs):
            step, index, task = self.queued.popleft()
            item = self._step(step.id).items[index]
            item = replace(item, status=StepStatus.RUNNING, start=utc_now())
            self._update_item(step.id, item)
            running[self._submit(pool, self._item_attempts, step, item, task)] = step.id

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

    def _update_item(self, step_id: str, item: ItemRecord) -> None:
        current = self._step(step_id)
        items = tuple(item if i.index == item.index else i for i in current.items)
        updated = replace(current, items=items)
        if all(i.status.is_final for i in items):
            names = output_names(self.workflow, self.workflow.step(step_id))
            updated = settle_sweep(updated, names)
        self._update(updated)

    def _item_attempts(self, step: Step, item: ItemRecord, task: StepTask) -> ItemRecord:
        """Execute one item of a foreach step with the step's retries (worker thread)."""
        threading.current_thread().name = task.step_id
        new, result = self._execute(step, task, len(item.attempts))
        timings = self._clean(task)
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
        )

    def _ready(self, running: Iterable[str]) -> list[Step]:
        self._decide_lenders()
        busy = set(running)
        ready = []
        for step in self.plan.steps:
            current = self._step(step.id)
            if current.status != StepStatus.PENDING or step.id in busy:
                continue
            if all(self._is_satisfied(n) for n in step.needs):
                ready.append(step)
        return ready

    def _ready_to_execute(self, running: Iterable[str]) -> list[Step]:
        """Ready steps, once those the cache answers are settled (which may make their
        dependants ready too); the record is saved once for all cache hits."""
        busy = list(running)
        with self._deferred_saves():
            while True:
                ready = self._ready(busy)
                if not [step for step in ready if self._settle_from_cache(step)]:
                    return ready

    def _settle_from_cache(self, step: Step) -> bool:
        """Record ``step`` as cached when an earlier run has its fingerprint (a
        foreach step: its items are looked up when it expands)."""
        if step.is_sweep or not self._is_cacheable(step):
            return False
        try:
            task = self._task(step)
        except NbflowError:
            return False  # the worker reports it
        fingerprint = self._fingerprint(step, task, self._needs_digests(step))
        self.fingerprints[step.id] = fingerprint
        reused = self._reused(fingerprint, task)
        if reused is None:
            self.missed.add(step.id)
            return False
        current = self._step(step.id)
        self._update(replace(current, parameters=dict(task.parameters), **reused))
        return True

    def _cached_items(
        self, step: Step, items: Sequence[ItemRecord], tasks: Sequence[StepTask]
    ) -> tuple[ItemRecord, ...]:
        """``items``, each with its fingerprint; those an earlier run has, cached."""
        cacheable, needs = self._is_cacheable(step), self._needs_digests(step)
        result = []
        for item, task in zip(items, tasks, strict=True):
            if not item.status.is_done:
                fingerprint = self._fingerprint(step, task, needs)
                reused = self._reused(fingerprint, task) if cacheable else None
                item = replace(item, **(reused or {"fingerprint": fingerprint}))
            result.append(item)
        return tuple(result)

    def _reused(self, fingerprint: str | None, task: StepTask) -> dict[str, Any] | None:
        """The fields of a cached step or item, its earlier notebook copied to
        ``task.output``; None when no earlier run has ``fingerprint``."""
        hit = self.cache.find(fingerprint) if fingerprint else None
        if hit is None:
            return None
        if gone := fp.missing_files(task.cwd, task.produces):
            log.info("%s: executing it again: its files are gone (%s)", task.step_id, gone[0])
            return None
        try:
            hit.copy_to(task.output)
        except OSError as exc:
            log.warning("%s: cannot reuse %s, executing it: %s", task.step_id, hit.cached_from, exc)
            return None
        now = utc_now()
        return {
            "status": StepStatus.CACHED,
            "notebook": task.output.name,
            "start": now,
            "end": now,
            "duration": 0.0,
            "outputs": dict(hit.outputs),
            "fingerprint": fingerprint,
            "cached_from": hit.cached_from,
            "reason": f"unchanged since run {hit.cached_from.partition('/')[0]}",
        }

    def _is_cacheable(self, step: Step) -> bool:
        enabled = self.options.cached if step.cache is None else step.cache
        forced = self.options.force or step.id in self.forced
        return enabled and not forced and step.id not in self.missed

    def _needs_digests(self, step: Step) -> dict[str, str]:
        """The digests of the outputs of the steps ``step`` needs (its fingerprint's
        ``needs``, the same for every item of a foreach step)."""
        return {n: fp.outputs_digest(self._outputs_of(n)) for n in step.needs}

    def _fingerprint(self, step: Step, task: StepTask, needs: Mapping[str, str]) -> str | None:
        """The fingerprint of ``task`` (a step, or an item of one) given ``needs`` (from
        ``_needs_digests``); None (never cached) when an input cannot be read."""
        try:
            return fp.step_fingerprint(
                notebook=fp.notebook_digest(task.notebook),
                kernel=step.kernel,
                parameters=task.parameters,
                needs=needs,
                inputs=fp.input_digests(self.workflow.directory, task.inputs),
            )
        except (OSError, ValueError) as exc:
            log.warning("%s: no fingerprint, the step will not be cached: %s", step.id, exc)
            return None

    @contextlib.contextmanager
    def _deferred_saves(self) -> Iterator[None]:
        self.saves_deferred = True
        try:
            yield
        finally:
            self.saves_deferred = False
            if self.save_pending:
                self._save()

    def _warm_ahead(self, running: Iterable[str]) -> None:
        """Start kernels for the pending steps that running steps will make ready."""
        busy = set(running)
        for step in self.plan.steps:
            if not self.kernels or self.kernels.warming() >= self.kernels.size:
                return
            if self._step(step.id).status != StepStatus.PENDING or step.id in busy:
                continue
            soon = all(n in busy or self._is_satisfied(n) for n in step.needs)
            if soon and self._is_worth_warming(step, busy):
                self.kernels.warm(self._kernel_spec(step))

    def _is_worth_warming(self, step: Step, busy: set[str]) -> bool:
        """A step the cache may answer gets a kernel only once a step it needs executes."""
        if not self._is_cacheable(step):
            return True
        return any(n in busy or self._step(n).status == StepStatus.SUCCEEDED for n in step.needs)

    def _kernel_spec(self, step: Step) -> KernelSpec:
        return KernelSpec.of(
            step.kernel, self.workflow.directory, self._kernel_env(step), self.scratch
        )

    def _kernel_env(self, step: Step) -> dict[str, str]:
        return {**self._run_env(), "NBFLOW_STEP": step.id}

    def _run_env(self) -> dict[str, str]:
        """What every kernel of the run has in its environment beyond nbflow's own."""
        return {
            "NBFLOW_RUN_ID": self.record.run_id,
            # the push token is nbflow's, not the notebooks' (least privilege);
            # a workflow that needs it in a notebook lists it under `secrets:`
            **{n: "" for n in TOKEN_VARIABLES if n not in self.workflow.secrets},
        }

    def _is_satisfied(self, need: str) -> bool:
        """Whether a step needing ``need`` may start: ``need`` is done, or it is not
        selected (its outputs come from an earlier run) and what it needs is
        satisfied — a selected step upstream of it must finish first, since it may
        make the files the unselected step stands for."""
        if self._step(need).status.is_done:
            return True
        if need in self.plan.selected or need in self.lenders:
            return False
        return all(self._is_satisfied(n) for n in self.workflow.step(need).needs)

    def _skip_dependants(self) -> None:
        changed = True
        while changed:
            changed = False
            for step in self.plan.steps:
                current = self._step(step.id)
                if current.status != StepStatus.PENDING:
                    continue
                blocked = self._blockers(step.needs)
                if blocked:
                    reason = f"needs '{blocked[0]}', which {self._step(blocked[0]).status.value}"
                    self._update(replace(current, status=StepStatus.SKIPPED, reason=reason))
                    changed = True

    def _blockers(self, needs: Iterable[str]) -> list[str]:
        """The selected steps among ``needs``, or upstream of them through steps not
        selected, that failed, were skipped or cancelled."""
        stopped = (StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED)
        found = []
        for need in needs:
            status = self._step(need).status
            if need in self.plan.selected:
                found += [need] if status in stopped else []
            elif not status.is_done:
                found += self._blockers(self.workflow.step(need).needs)
        return found

    def _cancel(self, running: dict[Future[Any], str], why: str = "interrupted") -> None:
        """Stop the run: running steps are stopped, the others cancelled; the record
        says the run was ``why``."""
        log.warning("the run was %s: stopping %d running step(s)", why, len(running))
        self.cancel.set()
        self.queued.clear()
        for handle in list(self.handles.values()):
            handle.stop(f"cancelled: the run was {why}")
        for future, step_id in list(running.items()):
            with contextlib.suppress(Exception):
                self._record_result(step_id, future.result())
        self._cancel_unfinished(f"the run was {why}")

    def _stop_writing(self, running: dict[Future[Any], str], exc: WriteError) -> WriteError:
        """A file could not be written (a full disk): stop the steps still running,
        record what is true as far as it can still be written — steps that ran keep
        their status, the one whose notebook was lost failed, the others were
        cancelled — and return the error to raise: the file, and how to finish."""
        self.write_error = self.write_error or exc
        self.saves_best_effort = True
        with self._deferred_saves():  # one try at the final record, not one per change
            self._cancel(running, f"stopped: {self.write_error}")
            self._finish()
        finish = ""
        if (self.dir / runs.RECORD_FILE).is_file():
            finish = (
                f"; once there is room, finish it with `nbflow run --resume {self.record.run_id}`"
            )
        return WriteError(f"{self.write_error}; the run stopped{finish}")

    def _note_write_error(self, exc: WriteError) -> None:
        """On a worker thread: a file of a step could not be written; stop the run."""
        self.write_error = self.write_error or exc
        self.cancel.set()

    def _cancel_unfinished(self, reason: str) -> None:
        """Record every item and step not final yet as cancelled, for ``reason``."""
        for step in self.record.steps:
            for item in step.items:
                if not item.status.is_final:
                    cancelled = replace(item, status=StepStatus.CANCELLED, reason=reason)
                    self._update_item(step.id, cancelled)
            step = self._step(step.id)
            if not step.status.is_final:
                self._update(replace(step, status=StepStatus.CANCELLED, reason=reason))

    def _finish(self) -> RunRecord:
        end = utc_now()
        statuses = {s.status for s in self.record.steps}
        if self.write_error:
            status = RunStatus.FAILED  # nbflow could not go on, nobody interrupted it
        elif StepStatus.CANCELLED in statuses or self.cancel.is_set():
            status = RunStatus.CANCELLED
        elif StepStatus.FAILED in statuses:
            status = RunStatus.FAILED
        else:
            status = RunStatus.SUCCEEDED
        self.record = replace(
            self.record, status=status, end=end, duration=_seconds(self.record.start, end)
        )
        self._save()
        if self.observer:
            self.observer.run_finished(self.record)
        return self.record

    # -- one step (worker thread) -----------------------------------------------

    def _attempts(self, step: Step) -> StepRecord:
        """Execute ``step`` with its retries; return its final record."""
        threading.current_thread().name = step.id  # names the step in streamed output
        current = self._step(step.id)
        try:
            task = self._task(step)
        except NbflowError as exc:
            error = StepError(type(exc).__name__, str(exc))
            return replace(current, status=StepStatus.FAILED, error=error, end=utc_now())
        fingerprint = (
            self.fingerprints[step.id]
            if step.id in self.fingerprints
            else self._fingerprint(step, task, self._needs_digests(step))
        )
        current = replace(
            current,
            parameters=dict(task.parameters),
            notebook=task.output.name,
            fingerprint=fingerprint,
        )
        earlier = list(current.attempts)  # of the run this one resumes
        attempts, result = self._execute(step, task, len(earlier))
        timings = self._clean(task)
        current = replace(current, timings=timings, notebook=_written(task))
        return _step_from_attempts(current, earlier, attempts, result)

    def _execute(
        self, step: Step, task: StepTask, earlier: int
    ) -> tuple[list[Attempt], StepResult]:
        """Execute ``task`` with ``step``'s retries; its attempts (numbered after
        ``earlier`` ones) and the last result."""
        attempts: list[Attempt] = []
        for number in range(1, step.retries + 2):
            if number > 1 and not self._wait_before_retry(step, number, earlier):
                break
            handle = self.handles[task.step_id] = KernelHandle()
            result = self._execute_once(task, handle)
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
        self.handles.pop(task.step_id, None)
        return attempts, result

    def _execute_once(self, task: StepTask, handle: KernelHandle) -> StepResult:
        """One attempt; failed when its notebook could not be written (the run stops)."""
        start, started = utc_now(), time.monotonic()
        try:
            return self.executor(task, handle, self.cancel.is_set)
        except (WriteError, OSError) as raised:
            if not isinstance(raised, WriteError) and not runs.is_out_of_room(raised):
                raise
            exc = raised if isinstance(raised, WriteError) else _cannot_write(task, raised)
            self._note_write_error(exc)
            error = StepError(type(exc).__name__, str(exc))
            seconds = round(time.monotonic() - started, 3)
            return StepResult(StepStatus.FAILED, start, utc_now(), seconds, error)

    def _clean(self, task: StepTask) -> dict[str, Any]:
        """Move volatile metadata out of an executed notebook (store/notebooks.py)."""
        try:
            return clean_notebook(task.output, root=self.project.root)
        except WriteError as exc:
            self._note_write_error(exc)
            return {}

    def _wait_before_retry(self, step: Step, number: int, earlier: int) -> bool:
        """Wait before this process's attempt ``number`` (after ``earlier`` ones of the
        run it resumes); False when the run is cancelled meanwhile."""
        delay = step.retry_delay * 2 ** (number - 2)
        total = earlier + step.retries + 1
        log.info("%s: retrying in %g s (attempt %d of %d)", step.id, delay, earlier + number, total)
        return not self.cancel.wait(delay)

    def _task(self, step: Step, item: tuple[int, Any] | None = None) -> StepTask:
        """What executes ``step`` (or, with ``item``, one item of a foreach step)."""
        outputs = self._upstream_outputs(step)
        parameters = resolve_step_parameters(
            self.workflow,
            step,
            self.params,
            outputs,
            self.run_context,
            self.options.step_parameters.get(step.id, {}),
            given=tuple(self.options.parameters),
            item=item,
        )
        name = item_notebook(step.id, item[0]) if item else f"{step.id}.ipynb"
        return StepTask(
            step_id=f"{step.id}[{item[0]}]" if item else step.id,
            notebook=self.workflow.notebook_path(step),
            output=self.dir / name,
            cwd=self.workflow.directory,
            parameters=parameters,
            kernel=step.kernel,
            timeout=step.timeout,
            env=self._kernel_env(step),
            log_output=self.options.log_output,
            redactor=self.redactor,
            kernels=self.kernels,
            scratch=self.scratch,
            inputs=resolve_globs(
                self.workflow, step.inputs, self.params, outputs, self.run_context, item
            ),
            produces=resolve_globs(
                self.workflow, step.produces, self.params, outputs, self.run_context, item
            ),
        )

    def _upstream_outputs(self, step: Step) -> dict[str, Mapping[str, Any] | None]:
        return {n: self._outputs_of(n) for n in _upstream_ids(self.workflow, step)}

    def _outputs_of(self, step_id: str) -> Mapping[str, Any] | None:
        step = self._step(step_id)
        if step_id in self.plan.selected or step.status.is_done:
            return step.outputs
        return self.earlier_outputs.get(step_id)

    def _find_lenders(self) -> None:
        """The steps not selected whose outputs selected steps use, each with its
        latest result (None: none); whether that result stands in is decided once
        what the step needs is satisfied (``_decide_lenders``)."""
        selected = set(self.plan.selected)
        needed = upstream(self.workflow, selected) - selected
        needed -= {n for n in needed if self._step(n).status.is_done}
        if not needed:
            return
        found = runs.latest_results(self.project.runs_dir, self.workflow.name, needed)
        self.lenders = {n: EarlierResult(*found[n]) if n in found else None for n in needed}

    def _decide_lenders(self) -> None:
        """Decide for each lender whose needs are satisfied (in plan order, so a chain
        of them is decided in one pass)."""
        for step_id in self.plan.order:
            step = self.workflow.step(step_id)
            if step_id in self.lenders and all(self._is_satisfied(n) for n in step.needs):
                self._lend_or_run(step, self.lenders.pop(step_id))

    def _lend_or_run(self, step: Step, earlier: EarlierResult | None) -> None:
        """Let ``earlier`` stand in for ``step`` when it is what the step would produce
        now; else add the step to the run, its record saying why."""
        current = self._step(step.id)
        try:
            task = self._task(step)
        except NbflowError:
            why: str | None = "its parameters cannot be resolved"  # the worker reports it
        else:
            fingerprint = self.fingerprints[step.id] = self._fingerprint(
                step, task, self._needs_digests(step)
            )
            missing = fp.missing_files(task.cwd, task.produces)
            why = refusal(earlier, fingerprint, task.parameters, missing)
        if why is None and earlier is not None:
            self.earlier_outputs[step.id] = earlier.step.outputs
            reason = f"not selected; outputs from run {earlier.run_id}"
            self._update(replace(current, reason=reason))
            return
        log.info("%s: run though not selected: %s", step.id, why)
        self.plan = replace(self.plan, selected=self.plan.selected | {step.id})
        reason = f"{RUN_THOUGH_NOT_SELECTED}: {why}"
        self._update(replace(current, status=StepStatus.PENDING, reason=reason))

    # -- the record ---------------------------------------------------------------

    def _step(self, step_id: str) -> StepRecord:
        return self.record.step(step_id)

    def _update(self, step: StepRecord) -> None:
        if step.status in (StepStatus.SKIPPED, StepStatus.CANCELLED) and self.kernels:
            self.kernels.discard(self._kernel_spec(self.workflow.step(step.id)))
        self.record = self.record.with_step(self._redact(step))
        self._save()
        if self.observer:
            self.observer.step_changed(self.record, step)

    def _redact(self, step: StepRecord) -> StepRecord:
        """The step with every secret value masked: records, reports, notifications and
        commit messages are all made from the redacted record."""
        if not self.redactor:
            return step
        redacted = self.redactor.data(self.record.with_step(step).to_json())
        return RunRecord.from_json(redacted).step(step.id)

    def _heartbeat(self) -> None:
        """Touch run.json while steps run: if this process dies (``kill -9``), its
        modification time tells ``--resume`` how long the cut attempts ran."""
        with contextlib.suppress(OSError):
            os.utime(self.dir / runs.RECORD_FILE)

    def _save(self) -> None:
        from nbflow.report.run_report import render_report

        if self.saves_deferred:
            self.save_pending = True
            return
        self.save_pending = False
        try:
            runs.write_record(self.dir, self.record)
            runs.write_atomic(self.dir / runs.REPORT_FILE, render_report(self.record))
        except WriteError as exc:
            if not self.saves_best_effort:
                raise
            log.debug("the record is as last written: %s", exc)


def _step_from_attempts(
    current: StepRecord, earlier: list[Attempt], new: list[Attempt], last: StepResult
) -> StepRecord:
    attempts = earlier + new
    start = attempts[0].start if attempts else current.start
    return replace(
        current,
        status=last.status,
        attempts=tuple(attempts),
        start=start,
        end=last.end,
        duration=_time_spent(earlier, new, last.end) if start else None,
        error=last.error,
        outputs=last.outputs,
    )


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
    return round(before + _seconds(new[0].start, end), 3)


def _upstream_ids(workflow: Workflow, step: Step) -> set[str]:
    return upstream(workflow, step.needs)


def _written(task: StepTask) -> str:
    """The executed notebook's name, or "" when no attempt wrote it (a Dask worker lost
    before returning it): the record links only notebooks in the run folder."""
    return task.output.name if task.output.is_file() else ""


def _seconds(start: str, end: str) -> float:
    return round((parse_time(end) - parse_time(start)).total_seconds(), 3)


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


# -- runs whose steps execute elsewhere (engine/pieces.py, assemble.py) ---------------


def start_record(
    workflow: Workflow, options: RunOptions, project: Project
) -> tuple[dict[str, Any], Plan, RunRecord]:
    """A run's parameters, plan and record as it starts, executing nothing: the seed
    that jobs running one step each share (``nbflow run --plan``)."""
    return _start(workflow, project, options)


def settle_record(
    workflow: Workflow, record: RunRecord, project: Project, missing: str
) -> RunRecord:
    """Finish a run whose steps executed elsewhere, as this runner would: a step that
    needs a failed or skipped one is skipped with the same reason, a step left pending
    is cancelled with reason ``missing`` (a foreach step: its items left pending); the
    run's status is computed, and record and report are saved in its run folder."""
    plan = plan_run(workflow)
    run = _Run(workflow, plan, project, RunOptions(), record.parameters, record, None, execute_step)
    with run._deferred_saves():  # one write of record and report, not one per change
        run._skip_dependants()
        run._cancel_unfinished(missing)
        return run._finish()
