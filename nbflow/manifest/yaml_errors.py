"""ruamel's YAML syntax errors in a manifest author's words, with a fix.

ruamel reports what its parser expected (``while parsing a block collection
expected <block end>, but found '?'``); an author needs what is wrong with the
line (it is indented differently from the block it is in) and how to fix it. Each
rule below matches one of ruamel's messages; anything else keeps ruamel's text.
The problem is placed where ruamel found it; where the cause is elsewhere (the
``{`` that is never closed), the message names that line and column too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["explain_yaml_error"]

_INDENT_FIX = (
    "indent with spaces so that a key lines up with the other keys of its mapping (a "
    "step's keys under its `id:`) and each `- ` item with the other items of its list"
)


@dataclass(frozen=True)
class _Found:
    """What ruamel says, and the line it points at."""

    context: str  # "while parsing a flow mapping"
    problem: str  # "expected ',' or '}', but got '<stream end>'"
    opened: str  # where the context started: "line 3, column 5"
    line: str  # the text of the line of the problem
    column: int  # 0-based column of the problem in that line


Explained = tuple[str, str] | None  # the problem and its fix, or None: another rule's


def explain_yaml_error(exc: Any, text: str) -> tuple[str, str]:
    """The problem and its fix for ruamel's marked error ``exc`` in ``text``."""
    mark = exc.problem_mark
    found = _Found(
        str(exc.context or ""),
        str(exc.problem or ""),
        _where(exc.context_mark),
        _line(text, mark),
        mark.column if mark else 0,
    )
    for rule in _RULES:
        if explained := rule(found):
            return explained
    message = " ".join(m for m in (found.context, found.problem) if m)
    return f"invalid YAML: {message}", ""


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "above"


def _line(text: str, mark: Any) -> str:
    lines = text.splitlines()
    return lines[mark.line] if mark and 0 <= mark.line < len(lines) else ""


def _tab(e: _Found) -> Explained:
    if "'\\t'" not in e.problem:
        return None
    return "invalid YAML: a tab character where YAML needs spaces", "indent with spaces, not tabs"


def _indentation(e: _Found) -> Explained:
    found = re.fullmatch(r"expected <block end>, but found '(.*)'", e.problem)
    if not e.context.startswith("while parsing a block") or not found:
        return None
    if found[1] in ("]", "}"):
        opening = "[" if found[1] == "]" else "{"
        return (
            f"invalid YAML: a '{found[1]}' that closes nothing",
            f"remove it, or open the list or mapping it ends with '{opening}'",
        )
    return (
        f"invalid YAML: this line is not indented like the block it is in (the block "
        f"starting at {e.opened})",
        _INDENT_FIX,
    )


def _colon_in_value(e: _Found) -> Explained:
    if e.problem != "mapping values are not allowed here":
        return None
    if ": " in e.line[: e.column]:  # `description: a: b`
        return (
            "invalid YAML: a value holding ': ' must be quoted",
            'put the value in quotes: description: "a: b"',
        )
    return (
        "invalid YAML: this key is indented deeper than the key above it, as if it were "
        "part of that key's value",
        _INDENT_FIX,
    )


def _unclosed_flow(e: _Found) -> Explained:
    flow = re.fullmatch(r"while parsing a flow (mapping|sequence)", e.context)
    got = re.fullmatch(r"expected ',' or '(.)', but got '(.*)'", e.problem)
    if not flow or not got:
        return None
    if "${{" in e.line and got[2] == "{":
        return (
            "invalid YAML: an expression ${{ … }} inside { } or [ ] without quotes",
            'put it in quotes: x: "${{ params.NAME }}"',
        )
    bracket = "{" if flow[1] == "mapping" else "["
    ended = "the end of the file" if got[2] == "<stream end>" else f"'{got[2]}'"
    return (
        f"invalid YAML: the '{bracket}' at {e.opened} is not closed before {ended}",
        f"close it with '{got[1]}', and separate its items with ','",
    )


def _unclosed_quote(e: _Found) -> Explained:
    if e.context != "while scanning a quoted scalar" or "end of stream" not in e.problem:
        return None
    return (
        f"invalid YAML: the quote at {e.opened} is never closed",
        "end the value with the same quote character it starts with",
    )


def _reserved_start(e: _Found) -> Explained:
    found = re.fullmatch(r"found character '(.)' that cannot start any token", e.problem)
    if not found:
        return None
    return (
        f"invalid YAML: a value cannot start with '{found[1]}' unless it is quoted",
        f'put the value in quotes: "{found[1]}…"',
    )


def _missing_colon(e: _Found) -> Explained:
    if e.problem != "could not find expected ':'":
        return None
    return (
        f"invalid YAML: the text at {e.opened} is neither `key: value` nor a `- ` item",
        "add ': ' after the key (or '- ' before a list item), or indent it as part of the "
        "value above",
    )


def _undefined_alias(e: _Found) -> Explained:
    found = re.fullmatch(r"found undefined alias '(.*)'", e.problem)
    if not found:
        return None
    return (
        f"invalid YAML: *{found[1]} refers to an anchor &{found[1]} that is not defined above",
        f"define &{found[1]} on an earlier value, or quote the text if '*' is meant literally",
    )


_RULES = (
    _tab,
    _indentation,
    _colon_in_value,
    _unclosed_flow,
    _unclosed_quote,
    _reserved_start,
    _missing_colon,
    _undefined_alias,
)
