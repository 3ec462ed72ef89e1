"""Load ``workflow.yaml``: ruamel round-trip parse → checks → frozen model.

Design decisions:

- Every problem found in one pass is reported at once, each with file, line,
  column, key path and a fix (:class:`~nbflow.errors.Problem`). Positions come
  from ruamel's round-trip nodes (``lc.key``/``lc.value``/``lc.item``, zero-based)
  and are stored 1-based on the model, so later checks can point at a line too.
- Structure and types are checked by the shipped JSON Schema (``schema.json``,
  also used by editors); its errors are translated into friendly problems. The
  meaning (unknown steps, cycles, notebooks, expressions) is checked here.
- Paths (notebooks, inputs) are relative to the folder holding the manifest, and
  must stay inside it, so a workflow folder can be moved or copied whole.
- Nothing here imports papermill, nbformat, Jupyter or Git: validating a large
  manifest must stay fast (notebooks are read with :mod:`json`, see notebooks.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import io
import json
import keyword
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from nbflow.errors import ManifestError, Problem, Source, UsageError
from nbflow.manifest import expressions
from nbflow.manifest.durations import parse_duration
from nbflow.manifest.model import (
    Defaults,
    Notify,
    Parameter,
    ParamType,
    Step,
    Triggers,
    Workflow,
)
from nbflow.manifest.notebooks import NotebookError, NotebookInfo, inspect_notebook
from nbflow.manifest.values import DYNAMIC_DEFAULTS, coerce, jsonable, type_name

__all__ = ["find_manifests", "load_manifest", "resolve_workflow"]

MANIFEST_NAME = "workflow.yaml"
KeyPath = tuple[str | int, ...]


# --------------------------------------------------------------------------- public API


def load_manifest(path: Path, *, check_notebooks: bool = True) -> Workflow:
    """Load and check the manifest at ``path``; ManifestError listing every problem.

    ``check_notebooks=False`` skips reading the notebooks (their existence, their
    parameters cell and recorded outputs), e.g. for a quick graph display.
    """
    doc = _read(Path(path))
    checker = _Checker(doc, check_notebooks)
    problems = _duplicate_keys(doc) + _schema_problems(doc) + checker.run()
    if problems:
        raise ManifestError(sorted(problems, key=_problem_order))
    return _build(doc, checker)


def find_manifests(root: Path) -> list[Path]:
    """Every ``workflows/*/workflow.yaml`` under the project ``root``, sorted."""
    return sorted(Path(root).glob(f"workflows/*/{MANIFEST_NAME}"))


def resolve_workflow(name_or_path: str, root: Path) -> Path:
    """The manifest named by a workflow name, a folder, or a ``workflow.yaml`` path."""
    given = Path(name_or_path)
    for base in (Path.cwd(), Path(root)):
        candidate = given if given.is_absolute() else base / given
        if candidate.is_file():
            return candidate
        if (candidate / MANIFEST_NAME).is_file():
            return candidate / MANIFEST_NAME
    by_name = Path(root) / "workflows" / name_or_path / MANIFEST_NAME
    if by_name.is_file():
        return by_name
    names = [p.parent.name for p in find_manifests(root)]
    if not names:
        raise UsageError(
            f"unknown workflow '{name_or_path}': no workflows under {Path(root) / 'workflows'}; "
            "create one with `nbflow new NAME`"
        )
    hint = _did_you_mean(name_or_path, names) or f"workflows are: {', '.join(names)}"
    raise UsageError(f"unknown workflow '{name_or_path}'; {hint}")


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Document:
    """A parsed manifest: plain data for checks, ruamel nodes for positions."""

    file: Path
    root: Any  # ruamel CommentedMap
    data: dict[str, Any]
    node: Any  # ruamel MappingNode, for duplicate keys

    def source(self, path: KeyPath, *, key: bool = False) -> Source:
        """Where the value (or, with ``key``, the key) at ``path`` is written."""
        line, col = 0, 0
        current = self.root
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            found = _position(current, part, key=key and last)
            if found is None:
                break
            (line, col), current = found
        return Source(self.file, line + 1, col + 1)

    def keypath(self, path: KeyPath) -> str:
        """``steps[1] (load).needs[0]`` for ``("steps", 1, "needs", 0)``."""
        text = ""
        for depth, part in enumerate(path):
            if isinstance(part, int):
                text += f"[{part}]"
                if depth == 1 and path[0] == "steps":
                    text += _step_label(self.data, part)
            else:
                text += f".{part}" if text else str(part)
        return text

    def problem(self, path: KeyPath, message: str, fix: str = "", *, key: bool = False) -> Problem:
        return Problem(self.source(path, key=key), self.keypath(path), message, fix)


def _position(container: Any, part: str | int, *, key: bool) -> tuple[Any, Any] | None:
    lc = getattr(container, "lc", None)
    if lc is None:
        return None
    try:
        if isinstance(part, int) and isinstance(container, list):
            return lc.item(part), container[part]
        if isinstance(container, Mapping):
            actual = next(k for k in container if k == part or str(k) == part)
            where = lc.key(actual) if key else lc.value(actual)
            return where, container[actual]
    except (StopIteration, IndexError, KeyError, TypeError):
        return None
    return None


def _step_label(data: Mapping[str, Any], index: int) -> str:
    steps = data.get("steps")
    if isinstance(steps, list) and index < len(steps) and isinstance(steps[index], Mapping):
        step_id = steps[index].get("id")
        if isinstance(step_id, str):
            return f" ({step_id})"
    return ""


def _read(path: Path) -> _Document:
    """Parse ``path``; a ManifestError for anything that stops reading it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError([Problem(None, "", f"{path}: manifest not found")]) from None
    except OSError as exc:
        raise ManifestError([Problem(None, "", f"{path}: {exc.strerror}")]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([_encoding_problem(path, raw, exc)]) from None
    root, node = _parse_yaml(path, text)
    if root is None:
        raise ManifestError(
            [
                Problem(
                    Source(path, 1, 1),
                    "",
                    "the manifest is empty",
                    "it needs at least `name:` and `steps:` (see docs/manifest.md)",
                )
            ]
        )
    if not isinstance(root, Mapping):
        raise ManifestError(
            [
                Problem(
                    Source(path, 1, 1),
                    "",
                    "expected a mapping of manifest keys (name, steps, ...), "
                    f"got {type_name(root)}",
                )
            ]
        )
    return _Document(path, root, _plain(root), node)


def _encoding_problem(path: Path, raw: bytes, exc: UnicodeDecodeError) -> Problem:
    before = raw[: exc.start]
    line = before.count(b"\n") + 1
    col = exc.start - (before.rfind(b"\n") + 1) + 1
    return Problem(
        Source(path, line, col),
        "",
        f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
        "save the file as UTF-8",
    )


def _parse_yaml(path: Path, text: str) -> tuple[Any, Any]:
    """Round-trip parse, keeping the node tree so duplicate keys can all be reported."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML()
    yaml.allow_duplicate_keys = True  # reported, with positions, by _duplicate_keys
    try:
        constructor, parser = yaml.get_constructor_parser(io.StringIO(text))
        try:
            node = constructor.composer.get_single_node()
            data = None if node is None else constructor.construct_document(node)
        finally:
            parser.dispose()
    except MarkedYAMLError as exc:
        raise ManifestError([_yaml_problem(path, exc)]) from None
    except YAMLError as exc:
        problem = _reader_problem(path, text, exc)
        raise ManifestError([problem]) from None
    return data, node


def _reader_problem(path: Path, text: str, exc: Any) -> Problem:
    """ruamel's ReaderError (control characters) has an offset, not a mark."""
    offset, char = getattr(exc, "position", None), getattr(exc, "character", None)
    if not isinstance(offset, int) or not isinstance(char, int | str):
        return Problem(Source(path, 1, 1), "", "invalid YAML: " + " ".join(str(exc).split()))
    before = text[:offset]
    line, col = before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
    code = char if isinstance(char, int) else ord(char)
    return Problem(
        Source(path, line, col),
        "",
        f"invalid YAML: control character #x{code:04x} is not allowed",
        "remove it",
    )


def _yaml_problem(path: Path, exc: Any) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    source = Source(path, mark.line + 1, mark.column + 1) if mark else Source(path, 1, 1)
    message = " ".join(str(m) for m in (exc.context, exc.problem) if m)
    fix = "indent with spaces, not tabs" if "'\\t'" in message else ""
    return Problem(source, "", f"invalid YAML: {message}", fix)


def _plain(value: Any) -> Any:
    """ruamel values → plain Python (dates and datetimes kept as such)."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime):
        return dt.datetime.fromisoformat(value.isoformat())
    return value


def _problem_order(problem: Problem) -> tuple[int, int, int]:
    if problem.source is None:
        return (1, 0, 0)
    return (0, problem.source.line, problem.source.col)


# --------------------------------------------------------------------------- structure


def _duplicate_keys(doc: _Document) -> list[Problem]:
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    problems: list[Problem] = []
    pending: list[tuple[Any, KeyPath]] = [(doc.node, ())]
    while pending:
        node, path = pending.pop()
        if isinstance(node, SequenceNode):
            pending.extend((child, (*path, i)) for i, child in enumerate(node.value))
        if not isinstance(node, MappingNode):
            continue
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            name = getattr(key_node, "value", None)
            if not isinstance(name, str):
                continue
            mark = key_node.start_mark
            if name in seen:
                problems.append(
                    Problem(
                        Source(doc.file, mark.line + 1, mark.column + 1),
                        doc.keypath((*path, name)),
                        f"duplicate key '{name}' (first written on line {seen[name]})",
                        "remove one of them",
                    )
                )
                continue
            seen[name] = mark.line + 1
            pending.append((value_node, (*path, name)))
    return problems


@functools.cache
def _validator() -> Any:
    import jsonschema

    text = resources.files("nbflow.manifest").joinpath("schema.json").read_text("utf-8")
    schema = json.loads(text)
    return jsonschema.Draft202012Validator(schema)


def schema() -> dict[str, Any]:
    """The manifest's JSON Schema (draft 2020-12), as shipped in ``schema.json``."""
    return dict(_validator().schema)


def _schema_problems(doc: _Document) -> list[Problem]:
    problems: list[Problem] = []
    for error in _validator().iter_errors(doc.data):
        problems.extend(_translate(doc, error))
    return problems


_PHRASES = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
}


def _translate(doc: _Document, error: Any) -> list[Problem]:
    """A jsonschema error → friendly located problems."""
    path: KeyPath = tuple(error.absolute_path)
    schema_node: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    if kind == "additionalProperties":
        allowed = list(schema_node.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return [_unknown_key(doc, (*path, k), k, allowed) for k in extra]
    if kind == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [doc.problem(path, f"missing required key '{k}'") for k in missing]
    if kind == "type":
        expected = schema_node.get("x-expected") or _PHRASES.get(
            str(error.validator_value), str(error.validator_value)
        )
        return [doc.problem(path, f"expected {expected}, got {type_name(error.instance)}")]
    if kind == "enum":
        return [_enum_problem(doc, path, error.instance, list(error.validator_value))]
    if kind == "pattern":
        return [_pattern_problem(doc, path, error, schema_node)]
    return [_other_problem(doc, path, error)]


def _unknown_key(doc: _Document, path: KeyPath, name: str, allowed: list[str]) -> Problem:
    fix = _did_you_mean(name, allowed) or f"allowed keys: {', '.join(allowed)}"
    return doc.problem(path, f"unknown key '{name}'", fix, key=True)


def _enum_problem(doc: _Document, path: KeyPath, value: Any, allowed: list[Any]) -> Problem:
    words = [str(a) for a in allowed]
    fix = (
        _did_you_mean(value, words) if isinstance(value, str) else ""
    ) or f"expected one of: {', '.join(words)}"
    return doc.problem(path, f"unknown value {_quote(value)}", fix)


def _pattern_problem(
    doc: _Document, path: KeyPath, error: Any, schema_node: Mapping[str, Any]
) -> Problem:
    explain = str(schema_node.get("x-pattern", f"expected text matching {error.validator_value}"))
    if "propertyNames" in error.schema_path:
        return doc.problem(
            (*path, error.instance), f"invalid name '{error.instance}'", explain, key=True
        )
    return doc.problem(path, f"invalid value '{error.instance}'", explain)


def _other_problem(doc: _Document, path: KeyPath, error: Any) -> Problem:
    kind, limit = error.validator, error.validator_value
    if kind == "minItems" and path == ("steps",):
        return doc.problem(path, "a workflow needs at least one step")
    if kind == "minItems":
        return doc.problem(path, f"expected at least {limit} item(s), got none")
    if kind == "minimum":
        return doc.problem(path, f"expected a number >= {limit}, got {error.instance}")
    if kind == "minLength":
        return doc.problem(path, "must not be empty")
    return doc.problem(path, str(error.message))


def _quote(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(jsonable(value))


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean '{close[0]}'?" if close else ""


# --------------------------------------------------------------------------- meaning


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass
class _Checker:
    """Semantic checks over plain data whose shape may be wrong (schema problems are
    reported separately, so each check skips what it cannot read)."""

    doc: _Document
    check_notebooks: bool
    problems: list[Problem] = field(default_factory=list)
    needs: dict[int, list[str]] = field(default_factory=dict)  # effective, by index
    notebooks: dict[int, NotebookInfo] = field(default_factory=dict)

    def add(self, path: KeyPath, message: str, fix: str = "", *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, fix, key=key))

    def run(self) -> list[Problem]:
        data = self.doc.data
        self._check_name(data.get("name"))
        self._check_triggers(_as_dict(data.get("on")))
        self._check_parameters(_as_dict(data.get("parameters")))
        self._check_durations(("defaults",), _as_dict(data.get("defaults")))
        self._check_steps(_as_list(data.get("steps")))
        self._check_notify(_as_dict(data.get("notify")))
        self._check_ci_steps(_as_dict(_as_dict(data.get("ci")).get("steps")))
        return self.problems

    @functools.cached_property
    def step_ids(self) -> list[str]:
        return [s["id"] for s in self.steps if isinstance(s.get("id"), str)]

    @functools.cached_property
    def steps(self) -> list[dict[str, Any]]:
        return [s if isinstance(s, dict) else {} for s in _as_list(self.doc.data.get("steps"))]

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
        for index, cron in enumerate(_as_list(on.get("schedule"))):
            if isinstance(cron, str) and (message := _cron_problem(cron)):
                self.add(
                    ("on", "schedule", index),
                    message,
                    "use 5 fields: minute hour day-of-month month day-of-week, "
                    "e.g. '0 0 * * *' (every day at midnight UTC)",
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
            if isinstance(spec, dict) and spec.get("type") in set(ParamType):
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
            self._check_default(path, _parameter(self.doc, name, spec), spec["default"])

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
                fix = _did_you_mean(step_id, self.step_ids) or f"steps are: {known}"
                self.add(("ci", "steps", step_id), f"unknown step '{step_id}'", fix, key=True)

    def _check_notify(self, notify: dict[str, Any]) -> None:
        for event in ("on_failure", "on_success"):
            for index, url in enumerate(_as_list(notify.get(event))):
                self._check_expressions(("notify", event, index), url, step_index=None)

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
            return [n for n in _as_list(step["needs"]) if isinstance(n, str)]
        previous = self.steps[index - 1].get("id") if index else None
        return [previous] if isinstance(previous, str) else []

    def _check_step(self, index: int, step: dict[str, Any]) -> None:
        path: KeyPath = ("steps", index)
        known = self.step_ids
        for position, need in enumerate(_as_list(step.get("needs"))):
            if isinstance(need, str) and need not in known:
                fix = _did_you_mean(need, known) or f"steps are: {', '.join(known)}"
                self.add((*path, "needs", position), f"unknown step '{need}'", fix)
        self._check_durations(path, step)
        self._check_notebook(index, step)
        for name, value in _as_dict(step.get("parameters")).items():
            self._check_expressions((*path, "parameters", name), value, step_index=index)
        self._check_step_parameters(index, step)

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
        if not notebook.endswith(".ipynb"):
            self.add(path, f"'{notebook}' is not a notebook", "a notebook path ends in .ipynb")
            return
        if not self.check_notebooks:
            return
        file = self.doc.file.parent / notebook
        if not file.is_file():
            name, step_id = self.doc.data.get("name", "WORKFLOW"), step.get("id", "STEP")
            self.add(
                path,
                f"notebook '{notebook}' not found in {file.parent}",
                f"create it with `nbflow new {name} {step_id}`",
            )
            return
        try:
            self.notebooks[index] = inspect_notebook(file)
        except NotebookError as exc:
            self.add(path, f"invalid notebook: {exc}")

    def _check_step_parameters(self, index: int, step: dict[str, Any]) -> None:
        info = self.notebooks.get(index)
        passed = _as_dict(step.get("parameters"))
        if info is None or not passed:
            return
        path: KeyPath = ("steps", index, "parameters")
        if info.parameters is None:
            self.add(
                path,
                f"notebook '{step['notebook']}' has no cell tagged 'parameters'",
                'tag the cell that assigns its parameters with "parameters" '
                "(Jupyter: View > Cell Toolbar > Tags)",
                key=True,
            )
            return
        for name in passed:
            if name not in info.parameters:
                defined = ", ".join(info.parameters) or "nothing"
                fix = _did_you_mean(name, info.parameters) or (
                    f'assign it in the cell tagged "parameters" (it defines: {defined})'
                )
                self.add(
                    (*path, name),
                    f"the parameters cell of '{step['notebook']}' does not define '{name}'",
                    fix,
                    key=True,
                )

    def _check_cycle(self) -> None:
        from nbflow.plan import cycle_problem, find_cycle

        steps = [
            Step(
                id=s["id"],
                notebook="",
                source=self.doc.source(("steps", i)),
                needs=tuple(self.needs[i]),
                needs_sources=_needs_sources(self.doc, i, s),
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

    # ----------------------------------------------------------------- expressions

    def _check_expressions(self, path: KeyPath, value: Any, *, step_index: int | None) -> None:
        for subpath, text in _strings(path, value):
            for message in expressions.syntax_errors(text):
                self.add(subpath, message)
            for ref in expressions.find_references(text):
                if problem := self._reference_problem(ref, step_index):
                    self.add(subpath, *problem)

    def _reference_problem(
        self, ref: expressions.Reference, step_index: int | None
    ) -> tuple[str, str] | None:
        if step_index is not None and (problem := self._secret_in_notebook(ref)):
            return problem
        if ref.kind == "params":
            declared = list(_as_dict(self.doc.data.get("parameters")))
            if ref.name not in declared:
                fix = _did_you_mean(ref.name, declared) or "declare it under `parameters:`"
                return f"{ref.text}: unknown parameter '{ref.name}'", fix
        if ref.kind == "secrets":
            declared = [s for s in _as_list(self.doc.data.get("secrets")) if isinstance(s, str)]
            if ref.name not in declared:
                fix = _did_you_mean(ref.name, declared) or f"add {ref.name} to `secrets:`"
                return f"{ref.text}: undeclared secret '{ref.name}'", fix
        if ref.kind == "steps":
            return self._output_problem(ref, step_index)
        return None

    def _secret_in_notebook(self, ref: expressions.Reference) -> tuple[str, str] | None:
        declared = [s for s in _as_list(self.doc.data.get("secrets")) if isinstance(s, str)]
        if ref.kind == "secrets" or (ref.kind == "env" and ref.name in declared):
            return (
                f"{ref.text}: a secret is never written into a notebook",
                f'read it in the notebook with nbflow.secret("{ref.name}")',
            )
        return None

    def _output_problem(
        self, ref: expressions.Reference, step_index: int | None
    ) -> tuple[str, str] | None:
        assert ref.step is not None
        known = self.step_ids
        if step_index is None:
            return f"{ref.text}: step outputs can only be used in step parameters", ""
        if ref.step not in known:
            fix = _did_you_mean(ref.step, known) or f"steps are: {', '.join(known)}"
            return f"{ref.text}: unknown step '{ref.step}'", fix
        me = self.steps[step_index].get("id", f"steps[{step_index}]")
        if not self._is_upstream(ref.step, step_index):
            return (
                f"{ref.text}: step '{ref.step}' is not upstream of '{me}'",
                f"add '{ref.step}' to the needs of '{me}'",
            )
        source_index = known.index(ref.step)
        outputs = self._outputs(source_index)
        if outputs is not None and ref.name not in outputs:
            notebook = self.steps[source_index].get("notebook")
            fix = _did_you_mean(ref.name, outputs) or (
                f'record it in {notebook} with `nbflow.record("{ref.name}", value)` '
                f"or list it under the `outputs:` of step '{ref.step}'"
            )
            return f"{ref.text}: step '{ref.step}' does not record output '{ref.name}'", fix
        return None

    def _outputs(self, index: int) -> list[str] | None:
        """Outputs a step records or declares; None when its notebook was not read."""
        declared = [o for o in _as_list(self.steps[index].get("outputs")) if isinstance(o, str)]
        info = self.notebooks.get(index)
        if info is None:
            return None if not declared or not self.check_notebooks else declared
        return [*info.records, *declared]

    @functools.cached_property
    def _index_of(self) -> dict[str, int]:
        return {s["id"]: i for i, s in enumerate(self.steps) if isinstance(s.get("id"), str)}

    def _is_upstream(self, step_id: str, index: int) -> bool:
        """Whether ``step_id`` is needed, directly or not, by the step at ``index``."""
        ids = self._index_of
        seen: set[str] = set()
        pending = list(self.needs.get(index, ()))
        while pending:
            current = pending.pop()
            if current == step_id:
                return True
            if current in seen or current not in ids:
                continue
            seen.add(current)
            pending.extend(self.needs.get(ids[current], ()))
        return False


def _strings(path: KeyPath, value: Any) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings((*path, key), item)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _strings((*path, position), item)


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


def _needs_sources(doc: _Document, index: int, step: Mapping[str, Any]) -> tuple[Source, ...]:
    needs = step.get("needs")
    if isinstance(needs, list):
        return tuple(doc.source(("steps", index, "needs", i)) for i in range(len(needs)))
    return ()


# --------------------------------------------------------------------------- model


def _parameter(doc: _Document, name: str, spec: Mapping[str, Any]) -> Parameter:
    ptype = ParamType(spec["type"])
    raw = spec.get("default")
    param = Parameter(
        name=name,
        type=ptype,
        source=doc.source(("parameters", name), key=True),
        has_default="default" in spec,
        required=bool(spec.get("required", False)),
        description=str(spec.get("description", "")),
        choices=tuple(jsonable(c) for c in _as_list(spec.get("choices"))),
    )
    if raw is None or raw == DYNAMIC_DEFAULTS.get(ptype):
        default = raw
    else:
        try:
            default = coerce(param, raw)
        except ValueError:
            default = raw
    return dataclasses.replace(param, default=default)


def _seconds(value: Any, fallback: float | None) -> float | None:
    return fallback if value is None else parse_duration(value)


def _build(doc: _Document, checker: _Checker) -> Workflow:
    data = doc.data
    settings = _as_dict(data.get("defaults"))
    defaults = Defaults(
        timeout=_seconds(settings.get("timeout"), None),
        retries=int(settings.get("retries", 0)),
        retry_delay=_seconds(settings.get("retry_delay"), 0.0) or 0.0,
        kernel=str(settings.get("kernel", "python3")),
    )
    return Workflow(
        name=data["name"],
        manifest=doc.file,
        source=Source(doc.file, 1, 1),
        steps=tuple(
            _step(doc, i, s, checker.needs[i], defaults) for i, s in enumerate(data["steps"])
        ),
        description=str(data.get("description", "")),
        triggers=_triggers(doc.file, _as_dict(data.get("on"))),
        parameters=tuple(
            _parameter(doc, n, s) for n, s in _as_dict(data.get("parameters")).items()
        ),
        secrets=tuple(data.get("secrets", ())),
        defaults=defaults,
        notify=Notify(
            on_failure=tuple(_as_dict(data.get("notify")).get("on_failure", ())),
            on_success=tuple(_as_dict(data.get("notify")).get("on_success", ())),
        ),
        commit_target=_as_dict(data.get("commit")).get("target"),
    )


def _step(
    doc: _Document, index: int, spec: Mapping[str, Any], needs: list[str], defaults: Defaults
) -> Step:
    parameters = _as_dict(spec.get("parameters"))
    path: KeyPath = ("steps", index, "parameters")
    return Step(
        id=spec["id"],
        notebook=spec["notebook"],
        source=doc.source(("steps", index)),
        needs=tuple(needs),
        parameters={k: jsonable(v) for k, v in parameters.items()},
        parameter_sources={k: doc.source((*path, k), key=True) for k in parameters},
        needs_sources=_needs_sources(doc, index, spec),
        timeout=_seconds(spec.get("timeout"), defaults.timeout),
        retries=int(spec.get("retries", defaults.retries)),
        retry_delay=_seconds(spec.get("retry_delay"), defaults.retry_delay) or 0.0,
        kernel=str(spec.get("kernel", defaults.kernel)),
        inputs=tuple(spec.get("inputs", ())),
        description=str(spec.get("description", "")),
        outputs=tuple(spec.get("outputs", ())),
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
        schedule=tuple(on.get("schedule", ())),
        push_paths=paths,
        dispatch=bool(on.get("dispatch", False)),
    )
