"""Run one step of a run apart from the others: the step-level commands any engine calls.

``seed_run`` (``nbflow run WORKFLOW --plan``) fixes what every job must agree on —
run id, resolved parameters, start time, trigger — in a seed; ``run_step``
(``nbflow run WORKFLOW --step ID``) executes one step of that run given the pieces
of the steps it needs, and leaves its own piece; ``nbflow assemble`` joins the
pieces into the run folder (see store/pieces.py for the files).

With ``items``, ``run_step`` executes only those items of a ``foreach:`` step and
leaves a *part* of its piece; the parts of a step, joined, settle it as the runner
would (``read_run_pieces``): so a GitHub matrix job can run each item.

Files a step writes for later steps travel with its piece when its ``produces:``
globs match them: ``run_step`` restores those of the steps it needs into the workflow
folder before executing, and adds the step's own to its piece afterwards, whatever
its status. They are matched after the run, with the expressions resolved as the run
resolved them (per item for a ``foreach:`` step); the step's record does not change,
unless a file holds a secret's value in a form nbflow masks: pieces are uploaded
where anyone who can read the repository can download them, so the step then fails,
naming the file and the secret, and its piece holds none of its files (#10).

``run_step`` does not re-implement the runner: it writes the seed, completed with
the needed steps' pieces, as the record of a run in a scratch runs folder and
*resumes* it with only this step selected. Parameters, expressions over earlier
outputs, retries, timeouts, cleaning and redacting the notebook are therefore
exactly what a local run does.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nbflow.engine.attempts import Executor
from nbflow.engine.fingerprint import matching_files
from nbflow.engine.parameters import resolve_globs
from nbflow.engine.runner import run_workflow
from nbflow.engine.start import RunOptions, start_record
from nbflow.engine.step import execute_step
from nbflow.engine.sweep import output_names, settle_sweep
from nbflow.errors import ExecutionError, NbflowError, UsageError
from nbflow.manifest.model import RunIf, Step, Workflow
from nbflow.plan import check_step_ids, topological_order, upstream
from nbflow.project import Project, project_of_manifest
from nbflow.run_record import ItemRecord, RunRecord, StepError, StepRecord, StepStatus
from nbflow.secrets import Redactor
from nbflow.store import runs
from nbflow.store.pieces import Piece, Seed, read_pieces, restore_files, write_files, write_piece

log = logging.getLogger(__name__)


def seed_run(workflow: Workflow, options: RunOptions, project: Project | None = None) -> Seed:
    """The seed of a run whose steps will execute apart: nothing runs, nothing is written."""
    if options.steps is not None or options.resume:
        raise UsageError("--plan plans a run of every step: drop --steps and --resume")
    project = project or project_of_manifest(workflow.manifest)
    _, _, record = start_record(workflow, options, project)
    _refuse_secret_parameters(workflow, record.parameters, options.step_parameters)
    return Seed(replace(record, pid=None), tuple(options.parameters), options.step_parameters)


def _refuse_secret_parameters(
    workflow: Workflow, parameters: Mapping[str, Any], step_parameters: Mapping[str, Any]
) -> None:
    """UsageError when a parameter's value holds a secret: the seed carries values as
    given to every job, and is uploaded with the pieces."""
    redactor = Redactor.from_environment(workflow.secrets, os.environ)
    given = {
        **parameters,
        **{f"{s}.{n}": v for s, p in step_parameters.items() for n, v in p.items()},
    }
    for name, value in given.items():
        if redactor.data(value) != value:
            raise UsageError(
                f"-p {name}: its value holds a secret, and the seed of a run whose steps "
                "run apart carries parameters unmasked to every job; read the secret in "
                "the notebook with nbflow.secret() instead"
            )


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
    items: frozenset[int] | None = None,
) -> tuple[StepRecord, Path]:
    """Execute ``step_id`` of the seeded run; write its piece into ``outputs``;
    return the step's record and the piece's path.

    ``inputs`` must hold the pieces of every step it needs, directly or not; the files
    they carry are restored into the workflow folder first. Raises ExecutionError,
    writing nothing, when a step it needs did not succeed: that step is recorded as
    skipped by ``nbflow assemble``, with the reason a local run gives.
    With ``items`` (a foreach step), execute only those items and, unless that
    settles the step, write a part of its piece; the returned record then holds and
    is settled over those items alone.
    """
    check_run_of(workflow, seed.record)
    check_step_ids(workflow, [step_id])
    step_def = workflow.step(step_id)
    if items is not None and not step_def.is_sweep:
        raise UsageError(f"--item: step '{step_id}' has no foreach: it has no items")
    project = project or project_of_manifest(workflow.manifest)
    pieces = _needed_pieces(workflow, step_id, seed.record, inputs)
    chosen = {step_id: items} if items is not None else {}
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
            RunOptions(items=chosen, log_output=log_output),
            executor,
        )
        folder = runs.run_dir(Path(scratch), workflow.name, record.run_id)
        final = runs.run_dir(project.runs_dir, workflow.name, record.run_id)
        step = _moved(record.step(step_id), folder, Path(project.relative(final)))
        notebook = folder / step.notebook if step.notebook else None
        notebooks = [folder / i.notebook for i in step.items if i.notebook]
        ran = tuple(i for i in step.items if i.index in (items or ()))
        if (items and len(ran) < len(items)) or (not ran and not step.status.is_final):
            chosen_items = ",".join(map(str, sorted(items or ())))
            raise UsageError(f"--item {chosen_items}: {_item_range(step)}")
        seen = {s: p.step for s, p in pieces.items()}
        if step.status.is_final:
            produced = _produced(workflow, step_def, seed, record, step.items)
            step, produced = _withhold_secrets(workflow, step, produced, step.items)
            write_files(outputs, step_id, workflow.directory, produced)
            path = write_piece(outputs, record, step, notebook, notebooks, upstream=seen)
            return step, path
        produced = _produced(workflow, step_def, seed, record, ran)
        step, produced = _withhold_secrets(workflow, step, produced, ran)
        ran = tuple(i for i in step.items if i.index in (items or ()))
        write_files(outputs, step_id, workflow.directory, produced, fresh=False)
        part = (min(i.index for i in ran), output_names(workflow, step_def))
        path = write_piece(outputs, record, step, None, notebooks, part=part, upstream=seen)
        return settle_sweep(replace(step, items=ran)), path


def _item_range(step: StepRecord) -> str:
    count = len(step.items)
    if not count:
        return f"step '{step.id}' has no items this run"
    return f"step '{step.id}' has {count} items this run (indices 0 to {count - 1})"


def read_run_pieces(folders: Sequence[Path], record: RunRecord) -> dict[str, Piece]:
    """The pieces of ``record``'s steps in ``folders``; a foreach step whose parts
    together finish every item is settled as the runner settles it."""
    found = read_pieces(folders, record)
    for step_id, piece in found.items():
        step = piece.step
        if piece.output_names is not None and all(i.status.is_final for i in step.items):
            found[step_id] = replace(piece, step=settle_sweep(step, piece.output_names))
    return found


def _produced(
    workflow: Workflow, step: Step, seed: Seed, record: RunRecord, ran: Sequence[ItemRecord]
) -> list[str]:
    """The files in the workflow folder that ``step``'s ``produces:`` globs match,
    resolved as the run resolved its ``inputs:`` (once per item ``ran`` of a foreach
    step)."""
    if not step.produces:
        return []
    outputs = {n: record.step(n).outputs for n in upstream(workflow, step.needs)}
    items = [(i.index, i.value) for i in ran] if step.is_sweep else [None]
    context = record.run_context
    try:
        patterns = {
            pattern
            for item in items
            for pattern in resolve_globs(
                workflow, step.produces, seed.record.parameters, outputs, context, item
            )
        }
    except NbflowError as exc:  # the step ran: keep its piece, say why it has no files
        log.warning("%s: produces: %s; its piece holds no files", step.id, exc)
        return []
    return sorted({f for p in patterns for f in matching_files(workflow.directory, p)})


def _withhold_secrets(
    workflow: Workflow, step: StepRecord, produced: list[str], ran: Sequence[ItemRecord]
) -> tuple[StepRecord, list[str]]:
    """``step`` and the files for its piece, unless a produced file holds a secret's
    value in a form nbflow masks: pieces are uploaded where anyone who can read the
    repository can download them (GitHub artifacts). Then the step fails (and the
    items ``ran`` of a foreach step), naming the file and the secret, and its piece
    holds none of its files."""
    redactor = Redactor.from_environment(workflow.secrets, os.environ)
    for path in produced:
        name = redactor.secret_in_file(workflow.directory / path)
        if name is None:
            continue
        error = StepError(
            "SecretInProducedFile",
            f"produced file {path} holds the value of secret {name}: it is not put in the "
            "step's piece, which anyone who can read the repository can download; write "
            "the file without the secret, or leave it out of `produces:`",
        )
        indices = {i.index for i in ran}
        items = tuple(
            replace(i, status=StepStatus.FAILED, error=error) if i.index in indices else i
            for i in step.items
        )
        return replace(step, status=StepStatus.FAILED, error=error, items=items), []
    return step, produced


def _moved(step: StepRecord, scratch: Path, final: Path) -> StepRecord:
    """``step`` naming the run folder it will be assembled in (``final``, relative to
    the project), not the scratch one (papermill's ``output_path``, kept in the step's
    timings)."""
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
    """The pieces of the steps ``step_id`` needs, directly or not. Under the default
    ``run_if``, ExecutionError (exit 1) when one of its needs did not succeed, or was
    not run because a step before it did not; under another rule, such needs are
    recorded as a local run records them and the rule decides. UsageError (exit 2)
    when a piece is missing for no such reason."""
    step = workflow.step(step_id)
    found = read_run_pieces(inputs, record)
    needed = upstream(workflow, step.needs)
    if step.run_if is not RunIf.ALL_SUCCEEDED:  # its rule decides, as in a local run
        found.update(_not_run(workflow, found, needed, record))
    for need in step.needs if step.run_if is RunIf.ALL_SUCCEEDED else ():
        if (why := _stopped(workflow, found, need)) is not None:
            raise ExecutionError(
                f"{step_id}: not run: it needs '{need}', {why} "
                "(`nbflow assemble` records it as skipped)"
            )
    missing = [s for s in workflow.steps if s.id in needed and s.id not in found]
    if missing:
        where = ", ".join(str(i) for i in inputs)
        raise UsageError(
            f"{step_id}: no piece of '{missing[0].id}' ({_piece_names(missing[0])}) in {where}"
        )
    return {n: found[n] for n in needed}


def _not_run(
    workflow: Workflow, found: dict[str, Piece], needed: set[str], record: RunRecord
) -> dict[str, Piece]:
    """For a step whose ``run_if`` is not the default: the steps it needs that left no
    piece because a step before them did not succeed (GitHub skipped their jobs), each
    recorded as skipped as a local run records it, so its rule sees the failure."""
    made: dict[str, Piece] = {}
    for step_id in topological_order(workflow.steps):
        if step_id not in needed or step_id in found:
            continue
        for need in workflow.step(step_id).needs:
            piece = made.get(need) or found.get(need)
            if piece is not None and piece.step.status.is_final and not piece.step.status.is_done:
                status = piece.step.status.value
                skipped = replace(
                    record.step(step_id),
                    status=StepStatus.SKIPPED,
                    reason=f"needs '{need}', which {status}",
                )
                made[step_id] = Piece(skipped, None)
                break
    return made


def _stopped(workflow: Workflow, found: dict[str, Piece], step_id: str) -> str | None:
    """Why the pieces say ``step_id`` did not succeed (``which failed``), or None: it
    succeeded, or it has no piece and nothing before it stopped."""
    piece = found.get(step_id)
    if piece is None:
        for need in workflow.step(step_id).needs:
            if (why := _stopped(workflow, found, need)) is not None:
                return f"which was not run (it needs '{need}', {why})"
        return None
    if piece.step.status.is_done:
        return None
    if piece.step.status.is_final:
        return f"which {piece.step.status.value}"
    lost = [str(i.index) for i in piece.step.items if not i.status.is_final]
    return f"whose item(s) {', '.join(lost)} have no part ({step_id}.part-N.json)"


def _piece_names(step: Step) -> str:
    """How the piece of ``step`` is named: a sweep's may be in parts, as matrix jobs leave it."""
    whole = f"{step.id}.json"
    return f"{whole} or its parts {step.id}.part-N.json" if step.is_sweep else whole


def _resume(
    workflow: Workflow,
    step_id: str,
    seed: Seed,
    pieces: dict[str, Piece],
    scratch: Project,
    options: RunOptions,
    executor: Executor,
) -> RunRecord:
    """Resume the seeded run, completed with ``pieces``, in ``scratch`` for one step
    (``options``: its items and output streaming)."""
    steps = tuple(pieces[s.id].step if s.id in pieces else s for s in seed.record.steps)
    record = replace(seed.record, steps=steps)
    runs.write_record(runs.run_dir(scratch.runs_dir, workflow.name, record.run_id), record)
    options = replace(
        options,
        parameters={n: record.parameters[n] for n in seed.given if n in record.parameters},
        step_parameters=seed.step_parameters,
        steps=[step_id],
        trigger=record.trigger,
        jobs=1,
        resume=record.run_id,
        standing=frozenset(pieces),  # a failed need is not executed again here
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
