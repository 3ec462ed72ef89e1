"""``${{ … }}`` references in manifest values, and their resolution at run time.

Grammar (whitespace inside the braces is optional)::

    ${{ params.NAME }}              a workflow parameter
    ${{ steps.ID.outputs.NAME }}    an output recorded by an upstream step
    ${{ run.id }} / ${{ run.date }} the current run
    ${{ env.NAME }}                 an environment variable
    ${{ secrets.NAME }}             a secret (read from the environment)
    ${{ item }} / ${{ item.index }} in a ``foreach:`` step: the current item, its position
    ${{ item.KEY }}                 the value under KEY of an item that is a mapping
                                    (``index`` is always the position: no key is named so)

A value that is exactly one expression keeps the referenced value's type (an int
stays an int, a list stays a list), so ``limit: "${{ params.limit }}"`` passes an
int to the notebook. An expression inside other text is interpolated with
``str()`` (JSON for lists and mappings). There is no arithmetic or function call:
anything needing logic belongs in a notebook.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nbflow.errors import NbflowError

__all__ = [
    "Context",
    "ExpressionError",
    "Reference",
    "find_references",
    "has_expression",
    "parse_reference",
    "resolve",
    "syntax_errors",
]

KINDS = ("params", "steps", "run", "env", "secrets", "item")
RUN_FIELDS = ("id", "date")

_EXPR = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.DOTALL)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_FORMS = {
    "params": re.compile(rf"params\.({_NAME})"),
    "steps": re.compile(rf"steps\.({_STEP})\.outputs\.({_NAME})"),
    "run": re.compile(r"run\.(id|date)"),
    "env": re.compile(rf"env\.({_NAME})"),
    "secrets": re.compile(rf"secrets\.({_NAME})"),
    "item": re.compile(rf"item(?:\.({_NAME}))?"),
}
_SHAPES = {
    "params": "${{ params.NAME }}",
    "steps": "${{ steps.STEP_ID.outputs.NAME }}",
    "run": "${{ run.id }} or ${{ run.date }}",
    "env": "${{ env.NAME }}",
    "secrets": "${{ secrets.NAME }}",
    "item": "${{ item }}, ${{ item.index }} or ${{ item.KEY }}",
}


class ExpressionError(NbflowError, KeyError):
    """A malformed expression, or one naming something the run does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Reference:
    """One ``${{ … }}`` reference. ``step`` is set for ``steps.ID.outputs.NAME``; for
    ``item`` the name is ``""`` (the item itself), ``"index"`` (its position) or the
    key of a mapping item."""

    kind: str
    name: str
    step: str | None
    text: str


@dataclass(frozen=True)
class Context:
    """What expressions resolve against when a step starts."""

    params: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    run: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    #: Declared secrets' values; ``${{ secrets.X }}`` falls back to ``env`` when empty.
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: In a ``foreach:`` step: the current item's position and value.
    item: tuple[int, Any] | None = None


def parse_reference(text: str) -> Reference:
    """Parse one ``${{ … }}`` text; ExpressionError saying the accepted forms if bad."""
    match = _EXPR.fullmatch(text)
    body = (match.group(1) if match else text).strip()
    kind = body.split(".", 1)[0]
    form = _FORMS.get(kind)
    found = form.fullmatch(body) if form else None
    if found is None:
        raise ExpressionError(_syntax_message(text, kind))
    if kind == "steps":
        return Reference("steps", found.group(2), found.group(1), text)
    return Reference(kind, found.group(1) or "", None, text)


def _syntax_message(text: str, kind: str) -> str:
    if kind in _SHAPES:
        return f"malformed expression '{text}'; expected {_SHAPES[kind]}"
    kinds = ", ".join(KINDS)
    return f"malformed expression '{text}'; an expression starts with one of {kinds}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def has_expression(value: Any) -> bool:
    """Whether ``value`` (walked recursively) contains ``${{``."""
    return any("${{" in text for text in _strings(value))


def find_references(value: Any) -> list[Reference]:
    """Every well-formed reference in ``value``, walking nested str/list/dict."""
    found: list[Reference] = []
    for text in _strings(value):
        for match in _EXPR.finditer(text):
            try:
                found.append(parse_reference(match.group(0)))
            except ExpressionError:
                continue
    return found


def syntax_errors(text: str) -> list[str]:
    """Messages for malformed or unterminated expressions in one string."""
    errors: list[str] = []
    for match in _EXPR.finditer(text):
        try:
            parse_reference(match.group(0))
        except ExpressionError as exc:
            errors.append(str(exc))
    rest = _EXPR.sub("", text)
    if "${{" in rest:
        errors.append("unterminated expression: '${{' without a closing '}}'")
    return errors


def resolve(value: Any, context: Context) -> Any:
    """Replace references in ``value`` (recursively); see the module docstring."""
    if isinstance(value, str):
        return _resolve_text(value, context)
    if isinstance(value, Mapping):
        return {k: resolve(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, context) for v in value]
    return value


def _resolve_text(text: str, context: Context) -> Any:
    whole = _EXPR.fullmatch(text.strip())
    if whole and text.strip() == whole.group(0):
        return lookup(parse_reference(whole.group(0)), context)
    return _EXPR.sub(lambda m: _as_text(lookup(parse_reference(m.group(0)), context)), text)


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple | Mapping):
        return json.dumps(value, default=str)
    return str(value)


def lookup(ref: Reference, context: Context) -> Any:
    """The value ``ref`` names in ``context``; ExpressionError if it is not there."""
    if ref.kind == "steps":
        assert ref.step is not None
        if ref.step not in context.outputs:
            raise ExpressionError(f"{ref.text}: step '{ref.step}' has no recorded outputs")
        return _get(context.outputs[ref.step], ref, f"step '{ref.step}' recorded no output")
    if ref.kind == "item":
        if context.item is None:
            raise ExpressionError(f"{ref.text}: only a step with `foreach:` has an item")
        return _item_value(ref, *context.item)
    table: Mapping[str, Any] = {
        "params": context.params,
        "run": context.run,
        "env": context.env,
        "secrets": context.secrets or context.env,
    }[ref.kind]
    what = {
        "params": "unknown parameter",
        "run": "the run has no field",
        "env": "environment variable not set:",
        "secrets": "secret not set in the environment:",
    }[ref.kind]
    return _get(table, ref, what)


def _item_value(ref: Reference, index: int, value: Any) -> Any:
    """The item (``item``), its position (``item.index``) or one of its keys."""
    if ref.name == "":
        return value
    if ref.name == "index":
        return index
    if not isinstance(value, Mapping):
        raise ExpressionError(
            f"{ref.text}: item {index} is {json.dumps(value, default=str)}, not a mapping "
            f"with key '{ref.name}'"
        )
    return _get(value, ref, f"item {index} has no key")


def _get(table: Mapping[str, Any], ref: Reference, what: str) -> Any:
    try:
        return table[ref.name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        hint = "" if ref.kind in ("env", "secrets") else f" (known: {known})"
        raise ExpressionError(f"{ref.text}: {what} '{ref.name}'{hint}") from None
