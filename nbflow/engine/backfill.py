"""Runs for schedule ticks: backfills (``nbflow backfill``) and catch-ups.

A tick is a moment the workflow's schedule fires (or ``--every`` sets, for a
workflow without one). Each tick gets one normal run whose logical time is the
tick (``default: today`` is the tick's day), with trigger ``backfill`` or
``catch-up``. A tick that already has a succeeded run — in the working tree or
committed to Git (HEAD, the runs branch) — is skipped unless forced, so a backfill
run again after an interruption does only the ticks still missing: a tick whose
latest run in the working tree failed, was cancelled or was interrupted is resumed
(its succeeded steps kept), any other missing tick gets a new run.

Runs of different ticks may run side by side on a pool of threads (``jobs``); each
holds its tick's lock (engine/locks.py) while it checks the tick's history and
runs, so two runs of one tick never overlap, even from two processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from nbflow.engine.locks import workflow_lock
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.errors import RunLockedError, UsageError
from nbflow.git import history
from nbflow.manifest.model import Workflow
from nbflow.project import Project
from nbflow.run_record import RunRecord, RunStatus, iso_utc, parse_time
from nbflow.schedule import every_between, ticks_between
from nbflow.store import runs

#: What a tick's outcome is when no run was made for it.
SKIPPED, BUSY = "skipped", "busy"


@dataclass(frozen=True)
class TickOutcome:
    """What became of one tick: its run's record, or why there is none."""

    tick: datetime
    state: str  # a RunStatus value, or SKIPPED / BUSY
    record: RunRecord | None = None
    detail: str = ""  # the skipping run's id, or why the tick was busy

    @property
    def logical(self) -> str:
        return iso_utc(self.tick)


def workflow_ticks(
    workflow: Workflow, first: datetime, last: datetime, every: timedelta | None
) -> list[datetime]:
    """The ticks in ``[first, last]``, oldest first: of ``every`` when given, else of
    every entry of the workflow's schedule (UsageError when it has none)."""
    if every is not None:
        return every_between(first, last, every)
    if not workflow.triggers.schedule:
        raise UsageError(
            f"{workflow.source}: {workflow.name} has no schedule (`on: {{schedule: [CRON]}}`): "
            "give the ticks with --every, e.g. --every 1d"
        )
    found = {
        iso_utc(t): t for s in workflow.triggers.schedule for t in ticks_between(s, first, last)
    }
    return [found[key] for key in sorted(found)]


def succeeded_ticks(project: Project, workflow: str) -> dict[str, str]:
    """The logical times (as ``run.json`` has them) of ``workflow``'s succeeded runs,
    in the working tree or committed to Git, each with one such run's id."""
    return {
        record.logical: record.run_id
        for record in history.list_summaries(project, workflow)
        if record.status == RunStatus.SUCCEEDED
    }


def run_ticks(
    workflow: Workflow,
    project: Project,
    ticks: Sequence[datetime],
    options: RunOptions,
    *,
    jobs: int = 1,
    force: bool = False,
    on_outcome: Callable[[TickOutcome], None] = lambda outcome: None,
    on_start: Callable[[datetime], None] = lambda tick: None,
) -> list[TickOutcome]:
    """A run for each of ``ticks`` (oldest first, ``jobs`` at once) lacking a succeeded
    one, or for every tick when ``force``; ``options`` is each run's, its logical time
    the tick. ``on_start``/``on_outcome`` are called (on the calling thread for
    outcomes) as ticks start and end. Returns the outcomes in tick order."""
    done = {} if force else succeeded_ticks(project, workflow.name)
    outcomes: dict[str, TickOutcome] = {}
    pending = []
    for tick in ticks:
        if iso_utc(tick) in done:
            outcomes[iso_utc(tick)] = TickOutcome(tick, SKIPPED, detail=done[iso_utc(tick)])
            on_outcome(outcomes[iso_utc(tick)])
        else:
            pending.append(tick)

    def one(tick: datetime) -> TickOutcome:
        on_start(tick)
        return _run_tick(workflow, project, tick, options, force)

    if jobs <= 1:  # on this thread: Ctrl-C and SIGTERM stop the run under way
        for tick in pending:
            outcomes[iso_utc(tick)] = outcome = one(tick)
            on_outcome(outcome)
    else:
        with ThreadPoolExecutor(jobs, thread_name_prefix="tick") as pool:
            futures: dict[Future[TickOutcome], datetime] = {pool.submit(one, t): t for t in pending}
            for future in as_completed(futures):
                outcome = future.result()
                outcomes[outcome.logical] = outcome
                on_outcome(outcome)
    return [outcomes[iso_utc(tick)] for tick in ticks]


def _run_tick(
    workflow: Workflow, project: Project, tick: datetime, options: RunOptions, force: bool
) -> TickOutcome:
    logical = iso_utc(tick)
    try:
        with workflow_lock(project.runs_dir, workflow.name, logical):
            if not force and (done := succeeded_ticks(project, workflow.name).get(logical)):
                return TickOutcome(tick, SKIPPED, detail=done)  # another process ran it meanwhile
            unfinished = None if force else _unfinished_run(project, workflow.name, logical)
            record = run_workflow(
                workflow,
                replace(options, logical_time=tick, resume=unfinished),
                project=project,
            )
    except RunLockedError as exc:
        return TickOutcome(tick, BUSY, detail=str(exc))
    return TickOutcome(tick, record.status.value, record)


def _unfinished_run(project: Project, workflow: str, logical: str) -> str | None:
    """The latest run of the tick in the working tree when it failed, was cancelled or
    was interrupted: resuming it keeps the steps that succeeded."""
    for record in runs.records_newest_first(project.runs_dir, workflow):
        if record.logical == logical:
            unfinished = record.status in (RunStatus.FAILED, RunStatus.CANCELLED)
            return record.run_id if unfinished or runs.is_interrupted(record) else None
    return None


def missed_ticks(
    workflow: Workflow, project: Project, now: datetime, limit: int
) -> tuple[list[datetime], list[datetime]]:
    """The ticks of the workflow's schedule after its latest run's logical time and
    before the latest tick at ``now``, that have no run: the newest ``limit`` of them,
    oldest first, and the older ones left out. Nothing for a workflow never run."""
    records = history.list_summaries(project, workflow.name)
    if not records:
        return [], []
    last = max(parse_time(r.logical) for r in records)
    has_run = {r.logical for r in records}
    found: dict[str, datetime] = {}
    for schedule in workflow.triggers.schedule:
        for tick in ticks_between(schedule, last + timedelta(seconds=1), now):
            found.setdefault(iso_utc(tick), tick)
    current = max(found, default=None)  # the tick the scheduler fired for: not missed
    missed = [found[k] for k in sorted(found) if k != current and k not in has_run]
    cut = max(len(missed) - limit, 0)
    return missed[cut:], missed[:cut]
