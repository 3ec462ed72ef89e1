"""What each notebook receives.

Precedence, lowest first: the notebook's own parameters cell < the workflow
parameter's default < a step's ``parameters:`` in the manifest < ``-p`` on the
command line (``-p NAME=VALUE`` for a workflow parameter, ``-p STEP.NAME=VALUE``
for one step). A workflow parameter reaches every notebook whose parameters cell
defines a variable of that name, so ``run_date`` need not be repeated per step.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from nbflow.errors import UsageError
from nbflow.manifest.expressions import Context, ExpressionError, resolve
from nbflow.manifest.model import Grid, Step, Workflow, grid_items
from nbflow.manifest.notebooks import NotebookInfo, inspect_notebook
from nbflow.manifest.suggestions import did_you_mean
from nbflow.manifest.values import coerce, parse_declared, resolve_default, type_name


def resolve_run_parameters(
    workflow: Workflow, overrides: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The run's parameters: defaults, then ``overrides``; every required one set."""
    known = [p.name for p in workflow.parameters]
    for name in overrides:
        if name not in known:
            raise UsageError(f"{workflow.name}: unknown parameter '{name}'{_hint(name, known)}")
    resolved: dict[str, Any] = {}
    for param in workflow.parameters:
        if param.name in overrides:
            resolved[param.name] = _coerce(param, overrides[param.name])
        elif param.has_default:
            resolved[param.name] = resolve_default(param, now)
        elif param.required:
            raise UsageError(
                f"{param.source}: parameters.{param.name}: required parameter not given; "
                f"pass -p {param.name}=VALUE"
            )
    return resolved


def _coerce(param: Any, value: Any) -> Any:
    try:
        return coerce(param, value)
    except ValueError as exc:
        raise UsageError(f"-p {param.name}: {exc}") from None


def _hint(name: str, known: list[str]) -> str:
    if hint := did_you_mean(name, known):
        return f"; {hint}"
    return f"; declared parameters: {', '.join(known)}" if known else "; it declares none"


def resolve_step_parameters(
    workflow: Workflow,
    step: Step,
    params: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any] | None],
    run: Mapping[str, Any],
    overrides: Mapping[str, Any],
    given: Collection[str] = (),
    item: tuple[int, Any] | None = None,
) -> dict[str, Any]:
    """The parameters injected into ``step``'s notebook. ``given`` names the workflow
    parameters set on the command line: they beat the step's ``parameters:``.
    ``item`` is a foreach step's current item: its position and value."""
    info = inspect_notebook(workflow.notebook_path(step))
    accepted = info.parameters or ()
    context = expression_context(workflow, params, outputs, run, item)
    injected = {name: params[name] for name in accepted if name in params}
    injected.update(resolve(dict(step.parameters), context))
    injected.update({name: params[name] for name in given if name in accepted and name in params})
    injected.update(overrides)
    return injected


def resolve_globs(
    workflow: Workflow,
    patterns: Sequence[str],
    params: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any] | None],
    run: Mapping[str, Any],
    item: tuple[int, Any] | None = None,
) -> tuple[str, ...]:
    """A step's ``inputs:`` or ``produces:`` globs with their expressions
    (``${{ params.X }}``) resolved."""
    if not patterns:
        return ()
    context = expression_context(workflow, params, outputs, run, item)
    return tuple(str(resolve(pattern, context)) for pattern in patterns)


def resolve_foreach(
    workflow: Workflow,
    step: Step,
    params: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any] | None],
    run: Mapping[str, Any],
) -> list[Any]:
    """The items of a foreach step, once the steps it needs have finished; a grid's
    are the cartesian product of its keys' values (engine/sweep.py)."""
    context = expression_context(workflow, params, outputs, run)
    where = f"steps[{workflow.steps.index(step)}] ({step.id}).foreach"
    if not isinstance(step.foreach, Grid):
        return _resolved_list(step, where, step.foreach, context)
    axes = {
        key: _resolved_list(step, f"{where}.grid.{key}", values, context)
        for key, values in step.foreach.axes
    }
    return grid_items(axes)


def _resolved_list(step: Step, where: str, value: Any, context: Context) -> list[Any]:
    items = resolve(value, context)
    if not isinstance(items, list):
        raise ExpressionError(
            f"{step.foreach_source or step.source}: {where}: "
            f"{value} has type {type_name(items)}, not list"
        )
    return items


def expression_context(
    workflow: Workflow,
    params: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any] | None],
    run: Mapping[str, Any],
    item: tuple[int, Any] | None = None,
) -> Context:
    """What a step's expressions read: the run's parameters, the outputs of the steps
    it needs (those that recorded some), the run, the environment without secrets.
    Outputs and environment are views, read only as far as an expression names them
    (most steps name none; copying them made each step's cost grow with the workflow)."""
    return Context(
        params=params,
        outputs=_Recorded(outputs),
        run=run,
        env=_Environment(workflow.secrets),
        item=item,
    )


class _Recorded(Mapping[str, Mapping[str, Any]]):
    """The outputs of the steps that recorded some (``outputs`` without its Nones)."""

    def __init__(self, outputs: Mapping[str, Mapping[str, Any] | None]) -> None:
        self._outputs = outputs

    def __getitem__(self, step_id: str) -> Mapping[str, Any]:
        value = self._outputs[step_id]
        if value is None:
            raise KeyError(step_id)
        return value

    def __iter__(self) -> Iterator[str]:
        return (k for k, v in self._outputs.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Environment(Mapping[str, str]):
    """``os.environ`` without the workflow's secrets."""

    def __init__(self, secrets: Collection[str]) -> None:
        self._secrets = secrets

    def __getitem__(self, name: str) -> str:
        if name in self._secrets:
            raise KeyError(name)
        return os.environ[name]

    def __iter__(self) -> Iterator[str]:
        return (k for k in os.environ if k not in self._secrets)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def parse_step_overrides(
    workflow: Workflow, texts: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, Any]]:
    """``-p STEP.NAME=VALUE`` values, each parsed by the type the step's notebook
    declares for NAME (text when it declares none); UsageError for an unknown step or
    parameter, or a value that is not of that type."""
    from nbflow.plan import check_step_ids

    check_step_ids(workflow, texts)
    parsed: dict[str, dict[str, Any]] = {}
    for step_id, values in texts.items():
        step = workflow.step(step_id)
        info = inspect_notebook(workflow.notebook_path(step))
        accepted = list(info.parameters or ())
        for name, text in values.items():
            if name not in accepted:
                raise UsageError(
                    f"-p {step_id}.{name}: {step.notebook} has no parameter '{name}'"
                    f"{_hint(name, accepted)}"
                )
            parsed.setdefault(step_id, {})[name] = _parse_override(step, info, name, text)
    return parsed


def _parse_override(step: Step, info: NotebookInfo, name: str, text: str) -> Any:
    declared = info.types.get(name)
    if declared is None:
        return text  # no declared type: text stays text
    try:
        return parse_declared(declared, text)
    except ValueError as exc:
        raise UsageError(
            f"-p {step.id}.{name}={text}: step '{step.id}' declares `{declared.text}` "
            f"in {step.notebook}; {exc}"
        ) from None
