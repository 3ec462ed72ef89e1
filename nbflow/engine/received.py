"""What a step would receive in a run, worked out without running anything.

``nbflow inject`` (nbflow/inject.py) writes these values into the step's own
notebook so its author can work on it in Jupyter with real values. They are
resolved as a run resolves them (engine/parameters.py): the workflow parameters'
defaults, the step's ``parameters:``, and the outputs of the steps it needs.

Upstream outputs come from the run records, as ``nbflow run WF --steps STEP`` takes
them (engine/reuse.py): for each step upstream, in order, its latest result, used
only when that result is what the step would give now (same fingerprint, its
``produces:`` files there). When one is not, there is nothing true to inject: a
:class:`UsageError` names the step and the command that gives it a result. With a
run id, the values are those of that run: its parameters, its run id and date, and
the outputs its steps recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from nbflow.engine import fingerprint as fp
from nbflow.engine.parameters import resolve_globs, resolve_run_parameters, resolve_step_parameters
from nbflow.engine.reuse import EarlierResult, refusal
from nbflow.errors import NbflowError, UsageError
from nbflow.manifest.model import Step, Workflow
from nbflow.plan import check_step_ids, topological_order, upstream
from nbflow.project import project_of_manifest
from nbflow.store import runs

Outputs = dict[str, Mapping[str, Any] | None]


def received_parameters(
    workflow: Workflow, step_id: str, run_id: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The parameters ``step_id`` would receive in a run now (or received in, or
    would have received in, run ``run_id``); UsageError when an upstream output is
    not known."""
    check_step_ids(workflow, [step_id])
    step = workflow.step(step_id)
    if step.is_sweep:
        raise UsageError(
            f"step '{step_id}' runs once per item (foreach:): nbflow inject does not "
            "support it; set the values in the notebook's parameters cell by hand"
        )
    if run_id is not None:
        return _in_run(workflow, step, run_id)
    now = now or datetime.now(UTC)
    params = resolve_run_parameters(workflow, {}, now)
    context = {"id": runs.new_run_id(now), "date": now.strftime("%Y-%m-%d")}
    outputs = _latest_outputs(workflow, step, params, context)
    return resolve_step_parameters(workflow, step, params, outputs, context, {})


def _in_run(workflow: Workflow, step: Step, run_id: str) -> dict[str, Any]:
    runs_dir = project_of_manifest(workflow.manifest).runs_dir
    folder = runs.run_dir(runs_dir, workflow.name, run_id)
    try:
        record = runs.read_record(folder)
    except OSError as exc:
        raise UsageError(
            f"{workflow.name}: no run '{run_id}' in {folder.parent} ({exc.strerror}); "
            f"list them with `nbflow runs {workflow.name}`"
        ) from None
    outputs: Outputs = {}
    for need in sorted(upstream(workflow, step.needs)):
        found = record.step(need) if need in {s.id for s in record.steps} else None
        if found is None or not found.status.is_done:
            raise UsageError(
                f"step '{step.id}' needs the outputs of '{need}', which has no result in "
                f"run {run_id}; pick another run (`nbflow runs {workflow.name}`) or leave "
                "out --run"
            )
        outputs[need] = found.outputs
    params, context = dict(record.parameters), record.run_context
    return resolve_step_parameters(workflow, step, params, outputs, context, {})


def _latest_outputs(
    workflow: Workflow, step: Step, params: Mapping[str, Any], context: Mapping[str, Any]
) -> Outputs:
    """The outputs of every step upstream of ``step``, from their latest results."""
    needed = upstream(workflow, step.needs)
    runs_dir = project_of_manifest(workflow.manifest).runs_dir
    found = runs.latest_results(runs_dir, workflow.name, needed)
    outputs: Outputs = {}
    for step_id in (s for s in topological_order(workflow.steps) if s in needed):
        earlier = EarlierResult(*found[step_id]) if step_id in found else None
        why = _refusal(workflow, workflow.step(step_id), earlier, params, outputs, context)
        if why is not None or earlier is None:
            raise UsageError(
                f"step '{step.id}' needs the outputs of '{step_id}', and {why}; "
                f"run `nbflow run {workflow.name} --steps {step_id}` first, "
                "or pick a run with --run"
            )
        outputs[step_id] = earlier.step.outputs
    return outputs


def _refusal(
    workflow: Workflow,
    step: Step,
    earlier: EarlierResult | None,
    params: Mapping[str, Any],
    outputs: Outputs,
    context: Mapping[str, Any],
) -> str | None:
    """Why ``earlier`` is not what ``step`` would give now (None: it is)."""
    mine = {n: outputs.get(n) for n in upstream(workflow, step.needs)}
    try:
        parameters = resolve_step_parameters(workflow, step, params, mine, context, {})
        fingerprint = fp.step_fingerprint(
            notebook=fp.notebook_digest(workflow.notebook_path(step)),
            kernel=step.kernel,
            parameters=parameters,
            needs={n: fp.outputs_digest(outputs.get(n)) for n in step.needs},
            inputs=fp.input_digests(
                workflow.directory, resolve_globs(workflow, step.inputs, params, mine, context)
            ),
        )
        produces = resolve_globs(workflow, step.produces, params, mine, context)
    except (NbflowError, OSError, ValueError):
        return "its parameters or inputs cannot be resolved now"
    missing = fp.missing_files(workflow.directory, produces)
    return refusal(earlier, fingerprint, parameters, missing)
