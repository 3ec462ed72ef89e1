"""A run as it starts: its options, parameters, plan and first record — a new run,
or an earlier one resumed (``--resume``).

Everything the user gave is checked here, before the runner writes a byte: the
parameters, the steps named, a clean tree when one is required.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from nbflow.engine.parameters import resolve_run_parameters
from nbflow.git.provenance import InputTree, check_clean, input_tree, warn_if_dirty
from nbflow.manifest.model import Step, Workflow
from nbflow.manifest.notebooks import NotebookError, inspect_notebook
from nbflow.plan import Plan, check_step_ids, plan_run
from nbflow.project import Project
from nbflow.run_record import (
    Attempt,
    RunRecord,
    RunStatus,
    StepError,
    StepRecord,
    StepStatus,
    iso_utc,
    seconds_between,
)
from nbflow.store import runs


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
    # resumed, these steps keep the final records the run has of them, not executed
    # again whatever their status (a step run apart: the pieces of its failed needs)
    standing: frozenset[str] = frozenset()
    cached: bool = False  # reuse unchanged results for steps whose manifest leaves `cache` unset
    force: bool = False  # execute every step, whatever the cache holds
    force_steps: Sequence[str] = ()  # execute these steps and their dependants
    # execute only these items of a foreach step (by index); its others stay pending
    items: Mapping[str, frozenset[int]] = field(default_factory=dict)
    # refuse to start from uncommitted changes (so does `require_clean: true` in nbflow.yaml)
    require_clean: bool = False


_Start = tuple[dict[str, Any], Plan, RunRecord]


def finished_run(project: Project, workflow: Workflow, run_id: str) -> RunRecord | None:
    """The record of run ``run_id`` when it succeeded: resuming it has nothing to do."""
    record = runs.read_record(runs.run_dir(project.runs_dir, workflow.name, run_id))
    return record if record.status == RunStatus.SUCCEEDED else None


def start_run(workflow: Workflow, project: Project, options: RunOptions) -> _Start:
    """A new run's parameters, plan and first record."""
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


def resume_run(workflow: Workflow, project: Project, options: RunOptions) -> _Start:
    """The parameters, plan and record of run ``options.resume``, to finish it."""
    assert options.resume is not None
    folder = runs.run_dir(project.runs_dir, workflow.name, options.resume)
    prior = runs.read_record(folder)
    last_seen = _timestamp((folder / runs.RECORD_FILE).stat().st_mtime)
    done = {s.id for s in prior.steps if s.status.is_done}
    plan = plan_run(workflow, options.steps, done=dict.fromkeys(done))
    known = {s.id: _cut_short(s, last_seen) for s in prior.steps}
    standing = {n for n in options.standing if n in known and known[n].status.is_final}
    if standing:  # selected, so the steps needing them see their outcomes
        plan = replace(plan, selected=plan.selected | (standing - done))
    steps = tuple(
        known[s.id]
        if s.id in done or s.id in standing
        else _initial_step(s, plan, workflow, known.get(s.id))
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


def _cut_short(step: StepRecord, last_seen: str) -> StepRecord:
    """A step left ``running`` by a process that died (``kill -9``, a crash): record
    the attempt it was making as cancelled, ending when that process was last seen
    alive (run.json's modification time, which the run touches while steps run)."""
    if step.status != StepStatus.RUNNING or not step.start:
        return step
    end = max(last_seen, step.start)
    error = StepError("Cancelled", "the run was interrupted (its process is gone)")
    number = len(step.attempts) + 1
    cut = Attempt(
        number, step.start, end, seconds_between(step.start, end), StepStatus.CANCELLED, error
    )
    return replace(step, attempts=(*step.attempts, cut))


def _timestamp(seconds: float) -> str:
    return iso_utc(datetime.fromtimestamp(seconds, UTC))


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


def start_record(
    workflow: Workflow, options: RunOptions, project: Project
) -> tuple[dict[str, Any], Plan, RunRecord]:
    """A run's parameters, plan and record as it starts, executing nothing: the seed
    that jobs running one step each share (``nbflow run --plan``)."""
    return start_run(workflow, project, options)
