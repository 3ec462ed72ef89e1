"""Check what a manifest means: steps and their needs, cycles, notebooks, parameters,
schedules, durations and (through :mod:`reference_check`) ``${{ … }}`` references.

Design decisions:

- The checks read plain data whose shape may be wrong: the schema's problems are
  reported separately (:mod:`schema_check`), so each check skips what it cannot read
  and every problem of one pass is reported at once.
- A step without ``needs:`` needs the step before it; :attr:`SemanticCheck.needs`
  keeps these effective needs, by step index, for building the model.
- Paths (notebooks, inputs, produces) are relative to the folder holding the manifest, and
  must stay inside it, so a workflow folder can be moved or copied whole.
- ``foreach:`` is checked by :mod:`foreach_check` (a list, one expression, a grid).
- Notebooks are read by notebooks.py (nbformat's validator, never papermill or Jupyter);
  croniter is imported only when a schedule is checked.
- ``run_if:``, ``if:``, ``wait_for:`` and ``sla:`` are checked by :mod:`control_check`.
"""

from __future__ import annotations

import dataclasses
import functools
import keyword
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from nbflow.errors import Problem
from nbflow.manifest.builder import build_parameter, needs_sources
from nbflow.manifest.control_check import ControlCheck
from nbflow.manifest.document import Document, KeyPath, as_dict, as_list
from nbflow.manifest.durations import parse_duration
from nbflow.manifest.foreach_check import ForeachCheck
from nbflow.manifest.model import Parameter, ParamType, Step
from nbflow.manifest.notebooks import Declared, NotebookError, NotebookInfo, inspect_notebook
from nbflow.manifest.reference_check import ReferenceCheck
from nbflow.manifest.report_check import check_report
from nbflow.manifest.step_graph import cycle_problem, find_cycle
from nbflow.manifest.suggestions import did_you_mean
from nbflow.manifest.text_notebook import NOTEBOOK_SUFFIXES
from nbflow.manifest.values import DYNAMIC_DEFAULTS, check_declared, coerce

__all__ = ["SemanticCheck"]

_GLOBS = {"inputs": "input", "produces": "produced"}  # a step's path lists: what errors call them


@dataclass
class SemanticCheck:
    """Semantic checks over plain data whose shape may be wrong (schema problems are
    reported separately, so each check skips what it cannot read)."""

    doc: Document
    check_notebooks: bool
    problems: list[Problem] = field(default_factory=list)
    needs: dict[int, list[str]] = field(default_factory=dict)  # effective, by index
    notebooks: dict[int, NotebookInfo] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)

    def add(self, path: KeyPath, message: str, fix: str = "", *, key: bool = False) -> None:
        """Record a problem at ``path``."""
        self.problems.append(self.doc.problem(path, message, fix, key=key))

    def warn(self, path: KeyPath, message: str, fix: str = "") -> None:
        """Record a warning at ``path``: worth fixing, but the workflow runs."""
        self.warnings.append(self.doc.problem(path, message, fix))

    def run(self) -> list[Problem]:
        """Run every check once; the problems found (also kept in :attr:`problems`)."""
        data = self.doc.data
        self._check_name(data.get("name"))
        self._check_triggers(as_dict(data.get("on")))
        self._check_parameters(as_dict(data.get("parameters")))
        self._check_durations(("defaults",), as_dict(data.get("defaults")))
        self._check_steps(as_list(data.get("steps")))
        self._check_notify(as_dict(data.get("notify")))
        self.controls.workflow()
        self._check_ci_steps(as_dict(as_dict(data.get("ci")).get("steps")))
        problems, warnings = check_report(self.doc)
        self.problems += problems
        self.warnings += warnings
        return self.problems

    @functools.cached_property
    def step_ids(self) -> list[str]:
        """The ids of the steps that have one, in manifest order."""
        return [s["id"] for s in self.steps if isinstance(s.get("id"), str)]

    @functools.cached_property
    def steps(self) -> list[dict[str, Any]]:
        """The steps as mappings (an empty one for a step that is not a mapping)."""
        return [s if isinstance(s, dict) else {} for s in as_list(self.doc.data.get("steps"))]

    @functools.cached_property
    def references(self) -> ReferenceCheck:
        """The reference check, reading this check's needs and notebooks as they fill up."""
        return ReferenceCheck(
            self.doc, self.steps, self.step_ids, self.needs, self.notebooks, self.check_notebooks
        )

    @functools.cached_property
    def controls(self) -> ControlCheck:
        """The checks of ``run_if:``, ``if:``, ``wait_for:`` and ``sla:``."""
        return ControlCheck(self.doc, self.references, self.add, self.warn, self.problems)

    # ----------------------------------------------------------------- top level

    def _check_name(self, name: Any) -> None:
        folder = self.doc.file.parent
        if isinstance(name, str) and folder.parent.name == "workflows" and name != folder.name:
            self.add(
                ("name",),
                f"name '{name}' differs from the workflow folder '{folder.name}'",
                f"rename the folder or write `name: {folder.name}`",
            )

    def _check_triggers(self, on: dict[str, Any]) -> None:
        seen: set[str] = set()
        for index, entry in enumerate(as_list(on.get("schedule"))):
            path: KeyPath = ("on", "schedule", index)
            cron = entry.get("cron") if isinstance(entry, dict) else entry
            if isinstance(entry, dict):
                path = (*path, "cron")
                self._check_timezone(("on", "schedule", index, "timezone"), entry.get("timezone"))
            if not isinstance(cron, str):
                continue
            if message := _cron_problem(cron):
                self.add(
                    path,
                    message,
                    "use 5 fields: minute hour day-of-month month day-of-week, "
                    "e.g. '0 0 * * *' (every day at midnight UTC)",
                )
            elif (normal := " ".join(cron.split())) in seen:
                self.add(
                    path,
                    f"cron '{normal}' is listed twice; GitHub names only the cron that fired, "
                    "so nbflow cannot tell the entries apart",
                    "keep one entry, or shift one by a minute",
                )
            seen.add(" ".join(cron.split()))

    def _check_timezone(self, path: KeyPath, name: Any) -> None:
        if isinstance(name, str) and not _is_timezone(name):
            self.add(
                path,
                f"unknown time zone '{name}'",
                "use an IANA time zone name such as Europe/Paris or America/New_York",
            )

    def _check_parameters(self, parameters: dict[str, Any]) -> None:
        for name, spec in parameters.items():
            if keyword.iskeyword(name):
                self.add(
                    ("parameters", name),
                    f"invalid name '{name}'",
                    "a Python keyword cannot be a parameter name",
                    key=True,
                )
            if isinstance(spec, dict) and spec.get("type") in list(ParamType):
                self._check_parameter(("parameters", name), name, spec)

    def _check_parameter(self, path: KeyPath, name: str, spec: dict[str, Any]) -> None:
        ptype = ParamType(spec["type"])
        if ptype is ParamType.CHOICE and "choices" not in spec:
            self.add(
                path,
                "a choice parameter needs `choices`",
                "list the allowed values, e.g. `choices: [eu, us]`",
                key=True,
            )
        if ptype is not ParamType.CHOICE and "choices" in spec:
            self.add(
                (*path, "choices"),
                f"`choices` only applies to type choice, not {ptype}",
                "write `type: choice` or remove `choices`",
                key=True,
            )
        if spec.get("required") is True and "default" in spec:
            self.add(
                (*path, "default"),
                "a required parameter cannot have a default",
                "remove `default` or `required: true`",
                key=True,
            )
        unusable_choices = not isinstance(spec.get("choices", []), list)
        if "default" in spec and not (ptype is ParamType.CHOICE and "choices" not in spec):
            if unusable_choices:
                return
            self._check_default(path, build_parameter(self.doc, name, spec), spec["default"])

    def _check_default(self, path: KeyPath, param: Parameter, default: Any) -> None:
        if default is None or default == DYNAMIC_DEFAULTS.get(param.type):
            return
        try:
            coerce(param, default)
        except ValueError as exc:
            dynamic = DYNAMIC_DEFAULTS.get(param.type)
            fix = f"`default: {dynamic}` is also accepted" if dynamic else ""
            self.add((*path, "default"), f"default does not fit type {param.type}: {exc}", fix)

    def _check_durations(self, path: KeyPath, settings: dict[str, Any]) -> None:
        for name in ("timeout", "retry_delay"):
            value = settings.get(name)
            if isinstance(value, int | float | str) and not isinstance(value, bool):
                try:
                    parse_duration(value)
                except ValueError as exc:
                    self.add((*path, name), str(exc))

    def _check_ci_steps(self, steps: dict[str, Any]) -> None:
        for step_id in steps:
            if step_id not in self.step_ids:
                known = ", ".join(self.step_ids)
                fix = did_you_mean(step_id, self.step_ids) or f"steps are: {known}"
                self.add(("ci", "steps", step_id), f"unknown step '{step_id}'", fix, key=True)

    def _check_notify(self, notify: dict[str, Any]) -> None:
        for event in ("on_failure", "on_success", "on_sla_miss"):
            for index, url in enumerate(as_list(notify.get(event))):
                self._check_expressions(("notify", event, index), url, step_index=None)

    def _check_expressions(self, path: KeyPath, value: Any, *, step_index: int | None) -> None:
        self.problems.extend(self.references.problems(path, value, step_index=step_index))

    # ----------------------------------------------------------------- steps

    def _check_steps(self, steps: list[Any]) -> None:
        first_use: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            step_id = step.get("id")
            if isinstance(step_id, str) and step_id in first_use:
                self.add(
                    (("steps", index, "id")),
                    f"duplicate step id '{step_id}'",
                    f"steps[{first_use[step_id]}] already uses it; step ids must be unique",
                )
            elif isinstance(step_id, str):
                first_use[step_id] = index
        for index, step in enumerate(self.steps):
            self.needs[index] = self._effective_needs(index, step)
        for index, step in enumerate(self.steps):
            self._check_step(index, step)
        self._check_cycle()

    def _effective_needs(self, index: int, step: dict[str, Any]) -> list[str]:
        if "needs" in step:
            return [n for n in as_list(step["needs"]) if isinstance(n, str)]
        previous = self.steps[index - 1].get("id") if index else None
        return [previous] if isinstance(previous, str) else []

    def _check_step(self, index: int, step: dict[str, Any]) -> None:
        path: KeyPath = ("steps", index)
        known = self.step_ids
        for position, need in enumerate(as_list(step.get("needs"))):
            if isinstance(need, str) and need not in known:
                fix = did_you_mean(need, known) or f"steps are: {', '.join(known)}"
                self.add((*path, "needs", position), f"unknown step '{need}'", fix)
        self._check_durations(path, step)
        self._check_notebook(index, step)
        for name, value in as_dict(step.get("parameters")).items():
            self._check_expressions((*path, "parameters", name), value, step_index=index)
        for key, noun in _GLOBS.items():
            self._check_globs((*path, key), noun, as_list(step.get(key)), index)
        self._check_step_parameters(index, step)
        if "foreach" in step:
            ForeachCheck(
                lambda at, message, fix: self.add(at, message, fix),
                lambda at, message, fix: self.add(at, message, fix, key=True),
                lambda at, value: self._check_expressions(at, value, step_index=index),
                as_dict(self.doc.data.get("parameters")),
            ).check((*path, "foreach"), step["foreach"])
        self.controls.step(index, step)

    def _check_globs(self, path: KeyPath, noun: str, patterns: list[Any], index: int) -> None:
        """A step's ``inputs:`` or ``produces:``: paths inside the workflow folder,
        whose expressions resolve."""
        for position, pattern in enumerate(patterns):
            if isinstance(pattern, str) and pattern and _escapes(pattern):
                self.add(
                    (*path, position),
                    f"{noun} path '{pattern}' leaves the workflow folder",
                    "use a path relative to the folder holding workflow.yaml, without '..'",
                )
            self._check_expressions((*path, position), pattern, step_index=index)

    def _check_notebook(self, index: int, step: dict[str, Any]) -> None:
        notebook = step.get("notebook")
        if not isinstance(notebook, str) or not notebook:
            return
        path: KeyPath = ("steps", index, "notebook")
        if _escapes(notebook):
            self.add(
                path,
                f"notebook path '{notebook}' leaves the workflow folder",
                "use a path relative to the folder holding workflow.yaml, without '..'",
            )
            return
        if not notebook.endswith(NOTEBOOK_SUFFIXES):
            self.add(
                path,
                f"'{notebook}' is not a notebook",
                "a notebook path ends in .ipynb, or .py or .md for a jupytext text notebook",
            )
            return
        if not self.check_notebooks:
            return
        file = self.doc.file.parent / notebook
        if not file.is_file():
            self.add(path, f"notebook '{notebook}' not found in {file.parent}", self._new(step))
            return
        try:
            info = self.notebooks[index] = inspect_notebook(file)
        except NotebookError as exc:
            for problem in exc.problems:
                self.add(path, f"invalid notebook: {problem}")
            return
        if info.injected is not None:
            self.warn(
                path,
                _stale_injected(notebook, info.where(info.injected[0]), info.injected[1]),
                f"take it out with `nbflow inject --remove {self.doc.data.get('name')}` or delete "
                "that cell from the notebook: a run replaces it with the step's parameters",
            )

    def _new(self, step: dict[str, Any]) -> str:
        """How to fix a missing notebook: a close name in the workflow folder, or
        ``nbflow new`` writing it (for a step the manifest lists, it writes the notebook)."""
        name, step_id = self.doc.data.get("name", "WORKFLOW"), step.get("id", "STEP")
        create = f"create it with `nbflow new {name} {step_id}`"
        folder = self.doc.file.parent
        present = [
            p.relative_to(folder).as_posix()
            for p in folder.glob("**/*")
            if p.suffix in NOTEBOOK_SUFFIXES and ".ipynb_checkpoints" not in p.parts
        ]
        hint = did_you_mean(step["notebook"], present, lambda path: path.rsplit(".", 1)[0])
        return f"{hint} Or {create}" if hint else create

    def _check_step_parameters(self, index: int, step: dict[str, Any]) -> None:
        info = self.notebooks.get(index)
        passed = as_dict(step.get("parameters"))
        if info is None or not passed:
            return
        path: KeyPath = ("steps", index, "parameters")
        if info.parameters_error is not None:
            self.add(
                path,
                f"the parameters cell of '{step['notebook']}' has a syntax error: "
                f"{info.parameters_error}",
                'correct that line in the cell tagged "parameters"',
                key=True,
            )
            return
        if info.parameters is None:
            self.add(
                path,
                f"notebook '{step['notebook']}' has no cell tagged 'parameters'",
                'tag the cell that assigns its parameters with "parameters" '
                "(Jupyter: View > Cell Toolbar > Tags)",
                key=True,
            )
            return
        for name, value in passed.items():
            if name not in info.parameters:
                defined = ", ".join(info.parameters) or "nothing"
                fix = did_you_mean(name, info.parameters) or (
                    f'assign it in the cell tagged "parameters" (it defines: {defined})'
                )
                self.add(
                    (*path, name),
                    f"the parameters cell of '{step['notebook']}' does not define '{name}'",
                    fix,
                    key=True,
                )
            elif (declared := info.types.get(name)) and not _has_expression(value):
                self._check_declared((*path, name), step["notebook"], declared, value)

    def _check_declared(self, path: KeyPath, notebook: str, declared: Declared, value: Any) -> None:
        """A literal step parameter against the type its notebook declares for it."""
        try:
            check_declared(declared, value)
        except ValueError as exc:
            self.add(
                path,
                f"'{notebook}' declares `{declared.text}`: {exc}",
                f"give a value of type {declared.type}, or change that line of its parameters cell",
            )

    def _check_cycle(self) -> None:
        steps = [
            Step(
                id=s["id"],
                notebook="",
                source=self.doc.source(("steps", i)),
                needs=tuple(self.needs[i]),
                needs_sources=needs_sources(self.doc, i, s),
            )
            for i, s in enumerate(self.steps)
            if isinstance(s.get("id"), str)
        ]
        known = set(self.step_ids)
        steps = [
            dataclasses.replace(s, needs=tuple(n for n in s.needs if n in known)) for s in steps
        ]
        if len({s.id for s in steps}) == len(steps) and (cycle := find_cycle(steps)):
            self.problems.append(cycle_problem(steps, cycle))


def _is_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone name (what GitHub and zoneinfo accept)."""
    from zoneinfo import ZoneInfo

    if name != name.strip() or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return False
    return True


def _cron_problem(cron: str) -> str:
    from croniter import croniter

    fields = cron.split()
    if len(fields) != 5:
        return f"invalid cron expression '{cron}': expected 5 fields, got {len(fields)}"
    if not croniter.is_valid(cron):
        return f"invalid cron expression '{cron}'"
    return ""


def _escapes(notebook: str) -> bool:
    posix, windows = PurePosixPath(notebook), PureWindowsPath(notebook)
    return (
        posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or ".." in posix.parts
        or ".." in windows.parts
    )


def _stale_injected(notebook: str, cell: str, source: str) -> str:
    """The warning for an ``injected-parameters`` cell saved in a notebook."""
    lines = [line.strip() for line in source.splitlines()]
    values = "; ".join(line for line in lines if line and not line.startswith("#")) or "empty"
    shown = values if len(values) <= 120 else values[:117] + "..."
    return (
        f"notebook '{notebook}' keeps an injected-parameters cell left by papermill or "
        f"Ploomber ({cell}: {shown})"
    )


def _has_expression(value: Any) -> bool:
    """Whether a step parameter holds a ``${{ … }}`` (its type is known at run time)."""
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return isinstance(value, str) and "${{" in value
