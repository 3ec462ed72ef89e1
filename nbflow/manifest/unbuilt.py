"""Scalars YAML gives a type but that cannot be built as one: kept as text, reported.

YAML's resolvers decide a plain scalar's type by its look: ``2024-02-30`` looks like
a timestamp, ``+_`` like an integer (underscores are digit separators), and only
building the value finds that no such date or number exists. ruamel then raises a
plain Python error (``ValueError: day is out of range for month``, even an
IndexError) from the middle of the document, which used to stop reading it: one
problem, located at the start of the document, hiding every other one.

Design decisions:

- The constructor (``constructor.py``) builds such a scalar as its text and remembers the
  node and the error, so reading goes on and the manifest's other problems are
  found in the same pass.
- :func:`unbuilt_problems` reports each one at the value itself, with its key path,
  what is wrong (the date's own reason: which part is out of range) and how to fix it.
  Explicit tags (``!!int x``, ``!!float x``) take the same path.
- Other checks see the text and may find the same value wrong again (``steps:
  2024-02-30`` is not a list); the loader keeps one problem per position, this one.
- Valid dates and datetimes are built by ruamel exactly as before: only the failing
  scalars are touched.
"""

from __future__ import annotations

from typing import Any

from nbflow.errors import Problem, Source
from nbflow.manifest.constructor import Unbuilt
from nbflow.manifest.document import Document, KeyPath

__all__ = ["unbuilt_problems"]

_KINDS = {"int": "integer", "float": "number", "bool": "boolean"}
_FIXES = {
    "date": "write an existing date as YYYY-MM-DD",
    "datetime": "write an existing date and time as YYYY-MM-DDTHH:MM:SS",
    "integer": "write an integer such as 42",
    "number": "write a number such as 1.5",
}


def unbuilt_problems(doc: Document) -> list[Problem]:
    """One problem per scalar of ``doc`` built as text, at the scalar, with its key path."""
    if not doc.unbuilt:
        return []
    paths = _paths(doc.node, {id(u.node) for u in doc.unbuilt})
    return [_problem(doc, paths.get(id(u.node), ()), u) for u in doc.unbuilt]


def _paths(root: Any, wanted: set[int]) -> dict[int, KeyPath]:
    """Where each wanted node is first reached from ``root``, aliases visited once."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    found: dict[int, KeyPath] = {}
    visited: set[int] = set()
    pending: list[tuple[Any, KeyPath]] = [(root, ())]
    while pending:
        node, path = pending.pop()
        if id(node) in wanted:
            found.setdefault(id(node), path)
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, SequenceNode):
            pending.extend((child, (*path, i)) for i, child in enumerate(node.value))
        elif isinstance(node, MappingNode):
            for key_node, value_node in reversed(node.value):
                name = key_node.value if isinstance(key_node.value, str) else "?"
                pending.append((value_node, (*path, name)))
                pending.append((key_node, (*path, name)))
    return found


def _problem(doc: Document, path: KeyPath, unbuilt: Unbuilt) -> Problem:
    mark = unbuilt.node.start_mark
    source = Source(doc.file, mark.line + 1, mark.column + 1)
    return Problem(source, doc.keypath(path), *_describe(unbuilt))


def _describe(unbuilt: Unbuilt) -> tuple[str, str]:
    """What is wrong with the scalar, and how to fix it."""
    text: str = unbuilt.node.value
    suffix = str(unbuilt.node.tag).rsplit(":", 1)[-1]
    if suffix == "timestamp":
        kind = "datetime" if len(text.strip()) > len("YYYY-MM-DD") else "date"
        message = f"{text} is not a valid {kind}: {_reason(unbuilt.error)}"
    else:
        kind = _KINDS.get(suffix, f"!!{suffix} value")
        message = f"{text} is not a valid {kind}"
    if getattr(unbuilt.node.ctag, "handle", None) is not None:  # written: !!int x
        return message, f"fix the value, or remove the !!{suffix} tag"
    fix = _FIXES.get(kind, "fix the value")
    return message, f'{fix}, or quote it ("{text}") to keep it as text'


def _reason(error: Exception) -> str:
    reason = str(error).rstrip(".")
    if reason.startswith("offset must be"):  # datetime's message quotes timedelta reprs
        return "the UTC offset must be less than 24 hours"
    return reason
