"""Turn a checked :class:`~nbflow.manifest.document.Document` into the frozen model.

Design decisions:

- Runs only once every check passed, so it reads the data without re-checking it;
  :func:`build_parameter` is the exception, as the checks use it on a parameter
  whose default is still to be checked (an uncoercible default is kept as written).
- Each model object keeps the :class:`~nbflow.errors.Source` of what it was built
  from, so later checks (a cycle in ``plan.py``, an unknown parameter in the
  engine) point at a line too.
- Step settings fall back to the workflow's ``defaults:``, then to built-in ones.
  The kernel falls back to the notebook's kernelspec name before ``python3``, as
  papermill does: a notebook saved with an R kernel runs under R. The notebook is
  read for it even with ``check_notebooks=False`` when it can be (cached per file);
  one that cannot be read falls back to ``python3``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbflow.errors import Source
from nbflow.manifest.document import Document, KeyPath, as_dict, as_list
from nbflow.manifest.durations import parse_duration
from nbflow.manifest.model import (
    CiSettings,
    Defaults,
    Grid,
    Notify,
    Parameter,
    ParamType,
    ReportSettings,
    RunIf,
    Schedule,
    Step,
    Triggers,
    WaitFor,
    Workflow,
)
from nbflow.manifest.notebooks import NotebookError, inspect_notebook
from nbflow.manifest.values import DYNAMIC_DEFAULTS, coerce, jsonable

__all__ = ["build_parameter", "build_workflow", "needs_sources"]


def build_workflow(doc: Document, needs: Mapping[int, list[str]]) -> Workflow:
    """The model of ``doc``, given each step's effective needs by step index."""
    data = doc.data
    settings = as_dict(data.get("defaults"))
    defaults = Defaults(
        timeout=_seconds(settings.get("timeout"), None),
        retries=int(settings.get("retries", 0)),
        retry_delay=_seconds(settings.get("retry_delay"), 0.0) or 0.0,
        kernel=settings.get("kernel"),
        cache=settings.get("cache"),
        report=_report(as_dict(data.get("report") or settings.get("report"))),
    )
    return Workflow(
        name=data["name"],
        manifest=doc.file,
        source=Source(doc.file, 1, 1),
        steps=tuple(_step(doc, i, s, needs[i], defaults) for i, s in enumerate(data["steps"])),
        description=str(data.get("description", "")),
        triggers=_triggers(doc.file, as_dict(data.get("on"))),
        parameters=tuple(
            build_parameter(doc, n, s) for n, s in as_dict(data.get("parameters")).items()
        ),
        secrets=tuple(data.get("secrets", ())),
        defaults=defaults,
        notify=Notify(
            on_failure=tuple(as_dict(data.get("notify")).get("on_failure", ())),
            on_success=tuple(as_dict(data.get("notify")).get("on_success", ())),
            on_sla_miss=tuple(as_dict(data.get("notify")).get("on_sla_miss", ())),
        ),
        sla=_seconds(data.get("sla"), None),
        commit_target=as_dict(data.get("commit")).get("target"),
        ci=_ci(as_dict(data.get("ci"))),
    )


def build_parameter(doc: Document, name: str, spec: Mapping[str, Any]) -> Parameter:
    """The workflow parameter ``name``; its default coerced to its type where it fits."""
    ptype = ParamType(spec["type"])
    raw = spec.get("default")
    param = Parameter(
        name=name,
        type=ptype,
        source=doc.source(("parameters", name), key=True),
        has_default="default" in spec,
        required=bool(spec.get("required", False)),
        description=str(spec.get("description", "")),
        choices=tuple(jsonable(c) for c in as_list(spec.get("choices"))),
    )
    if raw is None or raw == DYNAMIC_DEFAULTS.get(ptype):
        default = raw
    else:
        try:
            default = coerce(param, raw)
        except ValueError:
            default = raw
    return dataclasses.replace(param, default=default)


def needs_sources(doc: Document, index: int, step: Mapping[str, Any]) -> tuple[Source, ...]:
    """Where each entry of the step's ``needs:`` is written (none when it is implied)."""
    needs = step.get("needs")
    if isinstance(needs, list):
        return tuple(doc.source(("steps", index, "needs", i)) for i in range(len(needs)))
    return ()


def _seconds(value: Any, fallback: float | None) -> float | None:
    return fallback if value is None else parse_duration(value)


def _step(
    doc: Document, index: int, spec: Mapping[str, Any], needs: list[str], defaults: Defaults
) -> Step:
    parameters = as_dict(spec.get("parameters"))
    path: KeyPath = ("steps", index, "parameters")
    kernel, kernel_source = _kernel(doc, index, spec)
    return Step(
        id=spec["id"],
        notebook=spec["notebook"],
        source=doc.source(("steps", index)),
        needs=tuple(needs),
        parameters={k: jsonable(v) for k, v in parameters.items()},
        parameter_sources={k: doc.source((*path, k), key=True) for k in parameters},
        needs_sources=needs_sources(doc, index, spec),
        timeout=_seconds(spec.get("timeout"), defaults.timeout),
        retries=int(spec.get("retries", defaults.retries)),
        retry_delay=_seconds(spec.get("retry_delay"), defaults.retry_delay) or 0.0,
        kernel=kernel,
        kernel_source=kernel_source,
        inputs=tuple(spec.get("inputs", ())),
        produces=tuple(spec.get("produces", ())),
        description=str(spec.get("description", "")),
        outputs=tuple(spec.get("outputs", ())),
        cache=spec.get("cache", defaults.cache),
        report=_report(as_dict(spec.get("report")), defaults.report),
        foreach=_foreach(spec.get("foreach")),
        foreach_source=doc.source(("steps", index, "foreach")) if "foreach" in spec else None,
        run_if=RunIf(spec.get("run_if", RunIf.ALL_SUCCEEDED)),
        condition=spec.get("if"),
        condition_source=doc.source(("steps", index, "if")) if "if" in spec else None,
        wait_for=_wait_for(spec.get("wait_for")),
        sla=_seconds(spec.get("sla"), None),
    )


def _wait_for(spec: Any) -> WaitFor | None:
    if not isinstance(spec, Mapping):
        return None
    defaults = WaitFor(())
    return WaitFor(
        paths=tuple(spec["paths"]),
        timeout=_seconds(spec.get("timeout"), defaults.timeout) or 0.0,
        every=_seconds(spec.get("every"), defaults.every) or 0.0,
    )


def _kernel(doc: Document, index: int, spec: Mapping[str, Any]) -> tuple[str, Source | None]:
    """The step's kernel and where the manifest sets it (None: not in the manifest)."""
    if "kernel" in spec:
        return str(spec["kernel"]), doc.source(("steps", index, "kernel"))
    if "kernel" in as_dict(doc.data.get("defaults")):
        return str(doc.data["defaults"]["kernel"]), doc.source(("defaults", "kernel"))
    return _notebook_kernel(doc.file.parent / spec["notebook"]) or "python3", None


def _notebook_kernel(path: Path) -> str | None:
    try:
        return inspect_notebook(path).kernel
    except NotebookError:
        return None


def _foreach(value: Any) -> tuple[Any, ...] | str | Grid | None:
    if isinstance(value, Mapping):
        axes = value.get("grid")
        if not isinstance(axes, Mapping):
            return None
        return Grid(tuple((str(key), _axis(values)) for key, values in axes.items()))
    return _axis(value) if isinstance(value, list | str) else None


def _axis(value: Any) -> tuple[Any, ...] | str:
    """A literal list of items (or of a grid key's values), or one expression."""
    return tuple(jsonable(item) for item in value) if isinstance(value, list) else str(value)


def _report(spec: Mapping[str, Any], base: ReportSettings | None = None) -> ReportSettings:
    """``report:`` settings: the keys ``spec`` sets, else ``base``'s."""
    base = base or ReportSettings()
    return ReportSettings(
        html=bool(spec.get("html", base.html)),
        hide_code=bool(spec.get("hide_code", base.hide_code)),
    )


def _triggers(manifest: Path, on: Mapping[str, Any]) -> Triggers:
    push = on.get("push", False)
    if push is True:
        paths: tuple[str, ...] = (f"workflows/{manifest.parent.name}/**",)
    elif isinstance(push, Mapping):
        paths = tuple(push.get("paths", ()))
    else:
        paths = ()
    return Triggers(
        schedule=tuple(_schedule(entry) for entry in as_list(on.get("schedule"))),
        push_paths=paths,
        push_branches=tuple(push.get("branches", ())) if isinstance(push, Mapping) else (),
        dispatch=bool(on.get("dispatch", False)),
    )


def _schedule(entry: Any) -> Schedule:
    """A plain cron string (UTC), or ``{cron: …, timezone: …}``."""
    if isinstance(entry, Mapping):
        return Schedule(str(entry["cron"]), entry.get("timezone"))
    return Schedule(str(entry))


def _ci(ci: Mapping[str, Any]) -> CiSettings:
    steps = {
        step_id: _runs_on(as_dict(s).get("runs-on"))
        for step_id, s in as_dict(ci.get("steps")).items()
    }
    return CiSettings(
        per_step=ci.get("jobs") == "per-step",
        runs_on=_runs_on(ci.get("runs-on")),
        environment=ci.get("environment"),
        step_runs_on={k: v for k, v in steps.items() if v is not None},
    )


def _runs_on(value: Any) -> str | tuple[str, ...] | None:
    if isinstance(value, list):
        return tuple(str(label) for label in value) or None
    return value if isinstance(value, str) and value else None
