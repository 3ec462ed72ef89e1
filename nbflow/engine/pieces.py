"""Run one step of a run apart from the others: the step-level commands any engine calls.

``seed_run`` (``nbflow run WORKFLOW --plan``) fixes what every job must agree on —
run id, resolved parameters, start time, trigger — in a seed; ``run_step``
(``nbflow run WORKFLOW --step ID``) executes one step of that run given the pieces
of the steps it needs, and leaves its own piece; ``nbflow assemble`` joins the
pieces into the run folder (see store/pieces.py for the files).

Files a step writes for later steps travel with its piece when its ``produces:``
globs match them: ``run_step`` restores those of the steps it needs into the workflow
folder before executing, and adds the step's own to its piece afterwards, whatever
its status. They are matched after the run, with the expressions resolved as the run
resolved them (per item for a ``foreach:`` step); the step's record does not change.

``run_step`` does not re-implement the runner: it writes the seed, completed with
the needed steps' pieces, as the record of a run in a scratch runs folder and
*resumes* it with only this step selected. Parameters, expressions over earlier
outputs, retries, timeouts, cleaning and redacting the notebook are therefore
exactly what a local run does.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from nbflow.engine.fingerprint import matching_files
from nbflow.engine.parameters import resolve_globs, run_context
from nbflow.engine.runner import Executor, RunOptions, run_workflow, start_record
from nbflow.engine.step import execute_step
from nbflow.errors import ExecutionError, NbflowError, UsageError
from nbflow.manifest.model import Step, Workflow
from nbflow.plan import check_step_ids, topological_order, upstream
from nbflow.project import Project, project_of_manifest
from nbflow.run_record import RunRecord, StepRecord, StepStatus
from nbflow.store import runs
from nbflow.store.pieces import Piece, Seed, read_pieces, restore_files, write_files, write_piece

log = logging.getLogger(__name__)


def seed_run(workflow: Workflow, options: RunOptions, project: Project | None = None) -> Seed:
    """The seed of a run whose steps will execute apart: nothing runs, nothing is written."""
    if options.steps is not None or options.resume:
        raise UsageError("--plan plans a run of every step: drop --steps and --resume")
    project = project or project_of_manifest(workflow.manifest)
    _, _, record = start_record(workflow, options, project)
    return Seed(replace(record, pid=None), tuple(options.parameters), options.step_parameters)


def run_step(
    workflow: Workflow,
    step_id: str,
    seed: Seed,
    inputs: Sequence[Path],
    outputs: Path,
    *,
    project: Project | None = None,
    executor: Executor = execute_step,
    log_output: bool = False,
) -> StepRecord:
    """Execute ``step_id`` of the seeded run; write its piece into ``outputs``.

    ``inputs`` must hold the pieces of every step it needs, directly or not; the files
    they carry are restored into the workflow folder first. Raises ExecutionError,
    writing nothing, when a step it needs did not succeed: that step is recorded as
    skipped by ``nbflow assemble``, with the reason a local run gives.
    """
    check_run_of(workflow, seed.record)
    check_step_ids(workflow, [step_id])
    project = project or project_of_manifest(workflow.manifest)
    pieces = _needed_pieces(workflow, step_id, seed.record, inputs)
    order = [s for s in topological_order(workflow.steps) if s in pieces]
    if restored := restore_files(inputs, order, workflow.directory):
        log.info("%s: restored %d file(s) from the pieces it needs", step_id, len(restored))
    with tempfile.TemporaryDirectory(prefix="nbflow-piece-") as scratch:
        record = _resume(
            workflow,
            step_id,
            seed,
            pieces,
            _Scratch(project.root, Path(scratch)),
            executor,
            log_output,
        )
        folder = runs.run_dir(Path(scratch), workflow.name, record.run_id)
        final = runs.run_dir(project.runs_dir, workflow.name, record.run_id)
        step = _moved(record.step(step_id), folder, final)
        notebook = folder / step.notebook if step.notebook else None
        items = [folder / i.notebook for i in step.items if i.notebook]
        produced = _produced(workflow, workflow.step(step_id), seed, record)
        write_files(outputs, step_id, workflow.directory, produced)
        write_piece(outputs, record, step, notebook, items)
    return step


def _produced(workflow: Workflow, step: Step, seed: Seed, record: RunRecord) -> list[str]:
    """The files in the workflow folder that ``step``'s ``produces:`` globs match,
    resolved as the run resolved its ``inputs:`` (once per item of a foreach step)."""
    if not step.produces:
        return []
    outputs = {n: record.step(n).outputs for n in upstream(workflow, step.needs)}
    items = [(i.index, i.value) for i in record.step(step.id).items] if step.is_sweep else [None]
    try:
        patterns = {
            pattern
            for item in items
            for pattern in resolve_globs(
                workflow, step.produces, seed.record.parameters, outputs, run_context(record), item
            )
        }
    except NbflowError as exc:  # the step ran: keep its piece, say why it has no files
        log.warning("%s: produces: %s; its piece holds no files", step.id, exc)
        return []
    return sorted({f for p in patterns for f in matching_files(workflow.directory, p)})


def _moved(step: StepRecord, scratch: Path, final: Path) -> StepRecord:
    """``step`` naming the run folder it will be assembled in, not the scratch one
    (papermill's ``output_path``, kept in the step's timings)."""
    text = json.dumps(step.to_json())
    old, new = (json.dumps(str(p))[1:-1] for p in (scratch, final))
    return StepRecord.from_json(json.loads(text.replace(old, new)))


def check_run_of(workflow: Workflow, record: RunRecord) -> None:
    """UsageError unless ``record`` is a run of ``workflow``'s current steps."""
    if record.workflow != workflow.name:
        raise UsageError(f"the seed is a run of '{record.workflow}', not '{workflow.name}'")
    if [s.id for s in record.steps] != [s.id for s in workflow.steps]:
        raise UsageError(
            f"{workflow.manifest}: the steps changed since run {record.run_id} was planned; "
            "plan a new run with `nbflow run WORKFLOW --plan`"
        )


def _needed_pieces(
    workflow: Workflow, step_id: str, record: RunRecord, inputs: Sequence[Path]
) -> dict[str, Piece]:
    step = workflow.step(step_id)
    found = read_pieces(inputs, record)
    needed = upstream(workflow, step.needs)
    missing = [s.id for s in workflow.steps if s.id in needed and s.id not in found]
    if missing:
        where = ", ".join(str(i) for i in inputs)
        raise UsageError(f"{step_id}: no piece of '{missing[0]}' ({missing[0]}.json) in {where}")
    blocked = [n for n in step.needs if found[n].step.status != StepStatus.SUCCEEDED]
    if blocked:
        status = found[blocked[0]].step.status.value
        raise ExecutionError(
            f"{step_id}: not run: it needs '{blocked[0]}', which {status} "
            "(`nbflow assemble` records it as skipped)"
        )
    return {n: found[n] for n in needed}


def _resume(
    workflow: Workflow,
    step_id: str,
    seed: Seed,
    pieces: dict[str, Piece],
    scratch: Project,
    executor: Executor,
    log_output: bool,
) -> RunRecord:
    """Resume the seeded run, completed with ``pieces``, in ``scratch`` for one step."""
    steps = tuple(pieces[s.id].step if s.id in pieces else s for s in seed.record.steps)
    record = replace(seed.record, steps=steps)
    runs.write_record(runs.run_dir(scratch.runs_dir, workflow.name, record.run_id), record)
    options = RunOptions(
        parameters={n: record.parameters[n] for n in seed.given if n in record.parameters},
        step_parameters=seed.step_parameters,
        steps=[step_id],
        trigger=record.trigger,
        jobs=1,
        log_output=log_output,
        resume=record.run_id,
    )
    log.info("%s: running step %s of run %s", workflow.name, step_id, record.run_id)
    return run_workflow(workflow, options, project=scratch, executor=executor)


@dataclass(frozen=True)
class _Scratch(Project):
    """The project, with runs written to a scratch folder."""

    scratch: Path = Path()

    @property
    def runs_dir(self) -> Path:
        return self.scratch
