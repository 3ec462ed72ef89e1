"""Check a manifest's structure and types against the shipped JSON Schema.

Design decisions:

- ``schema.json`` is the one description of the manifest's shape: editors validate
  against it too (``nbflow init`` copies it into the project).
- jsonschema's errors are written for schema authors; each is translated here into
  located :class:`~nbflow.errors.Problem` s in the manifest's own words, with a fix
  ("did you mean …", the allowed keys or values). Keywords ``x-expected`` and
  ``x-pattern`` in the schema carry the wording for types and patterns.
- A manifest is first checked with fastjsonschema (yes or no: the schema uses only
  keywords it knows); only an invalid one is checked again with jsonschema, whose
  errors say where. jsonschema's import costs more than a whole no-op run's
  bookkeeping, and most manifests are valid.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbflow.errors import Problem
from nbflow.manifest.document import Document, KeyPath
from nbflow.manifest.fast_schema import compiled_check
from nbflow.manifest.suggestions import did_you_mean
from nbflow.manifest.values import jsonable, type_name

__all__ = ["schema", "schema_problems"]

_PHRASES = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
}


def schema() -> dict[str, Any]:
    """The manifest's JSON Schema (draft 2020-12), as shipped in ``schema.json``."""
    return dict(_validator().schema)


def schema_problems(doc: Document) -> list[Problem]:
    """Every place where ``doc`` does not fit the schema, as located problems."""
    if _is_valid(doc.data):
        return []
    problems: list[Problem] = []
    for error in _validator().iter_errors(doc.data):
        problems.extend(_translate(doc, error))
    return problems


def _is_valid(data: Any) -> bool:
    """Whether fastjsonschema finds ``data`` valid (any doubt: jsonschema decides)."""
    try:
        _fast_check()(data)
    except Exception:  # invalid, or a value fastjsonschema cannot handle
        return False
    return True


#: Shipped next to this module (package data). Read as a file: importlib.resources
#: takes ~10 ms to import and find it, a few percent of a cached run.
_SCHEMA_FILE = Path(__file__).with_name("schema.json")


@functools.cache
def _schema_text() -> str:
    return _SCHEMA_FILE.read_text("utf-8")


@functools.cache
def _fast_check() -> Any:
    return compiled_check(_schema_text())


@functools.cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(_schema_text()))


def _translate(doc: Document, error: Any) -> list[Problem]:
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


def _unknown_key(doc: Document, path: KeyPath, name: str, allowed: list[str]) -> Problem:
    homes = [home for home in _homes().get(name, ()) if home != _section(path[:-1])]
    if homes:  # `schedule:` under the top level instead of under `on:`
        fix = (
            f"'{name}' is a key of {' or '.join(homes)}: if it belongs there, check its "
            f"indentation (allowed here: {', '.join(allowed)})"
        )
    else:
        fix = did_you_mean(name, allowed) or f"allowed keys: {', '.join(allowed)}"
    return doc.problem(path, f"unknown key '{name}'", fix, key=True)


def _section(path: KeyPath) -> str:
    """How a mapping at ``path`` is named in messages: `on:`, a step, the top level."""
    if not path:
        return "the top level"
    if path[0] == "steps" and len(path) == 2:
        return "a step"
    if path[0] == "parameters" and len(path) == 2:
        return "a parameter"
    return "`" + ".".join(str(p) for p in path) + ":`"


@functools.cache
def _homes() -> dict[str, list[str]]:
    """Each key the schema allows, with the sections that allow it (see ``_section``)."""
    found: dict[str, list[str]] = {}
    definitions = schema().get("$defs", {})

    def walk(node: Any, path: tuple[Any, ...], seen: frozenset[str]) -> None:
        if not isinstance(node, Mapping):
            return
        ref = str(node.get("$ref", "")).rpartition("/")[2]
        if ref and ref not in seen:
            walk(definitions.get(ref), path, seen | {ref})
        for key, sub in node.get("properties", {}).items():
            found.setdefault(key, [])
            if _section(path) not in found[key]:
                found[key].append(_section(path))
            walk(sub, (*path, key), seen)
        walk(node.get("items"), (*path, 0), seen)
        walk(node.get("additionalProperties"), (*path, "NAME"), seen)
        for choice in (*node.get("anyOf", ()), *node.get("oneOf", ()), *node.get("allOf", ())):
            walk(choice, path, seen)

    walk(schema(), (), frozenset())
    return found


def _enum_problem(doc: Document, path: KeyPath, value: Any, allowed: list[Any]) -> Problem:
    words = [str(a) for a in allowed]
    fix = (
        did_you_mean(value, words) if isinstance(value, str) else ""
    ) or f"expected one of: {', '.join(words)}"
    return doc.problem(path, f"unknown value {_quote(value)}", fix)


def _pattern_problem(
    doc: Document, path: KeyPath, error: Any, schema_node: Mapping[str, Any]
) -> Problem:
    explain = str(schema_node.get("x-pattern", f"expected text matching {error.validator_value}"))
    if "propertyNames" in error.schema_path:
        return doc.problem(
            (*path, error.instance), f"invalid name '{error.instance}'", explain, key=True
        )
    return doc.problem(path, f"invalid value '{error.instance}'", explain)


def _other_problem(doc: Document, path: KeyPath, error: Any) -> Problem:
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
    return f"'{value}'" if isinstance(value, str) else json.dumps(jsonable(value), default=str)
