"""Markdown building blocks shared by the report's sections: code spans, fences,
tables, escaped text, level-2 sections.

Identifiers go in code spans, which need no escaping; free text is escaped. Inside
table cells ``|`` is escaped and newlines become ``<br>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["code", "fenced", "plural", "section", "table", "text"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#~])")


def section(title: str, body: str) -> str:
    """A level-2 section; nothing when ``body`` is empty."""
    return f"## {title}\n\n{body}" if body else ""


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub table; nothing when there are no rows."""
    if not rows:
        return ""
    lines = [_row(header), _row(["---"] * len(header)), *(_row(row) for row in rows)]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(value: str) -> str:
    """A table cell: ``|`` escaped (also inside code spans, as GFM wants), one line."""
    lines = value.replace("|", "\\|").splitlines() or [""]
    return "<br>".join(lines)


def code(value: str) -> str:
    """An inline code span, fenced with more backticks than ``value`` holds in a row."""
    fence = "`" * (_longest_backtick_run(value) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def fenced(value: str, info: str) -> str:
    """A fenced code block with info string ``info``, its fence longer than any run of
    backticks in ``value``."""
    fence = "`" * max(3, _longest_backtick_run(value) + 1)
    return f"{fence}{info}\n{value.rstrip()}\n{fence}"


def _longest_backtick_run(value: str) -> int:
    return max((len(run) for run in re.findall(r"`+", value)), default=0)


def text(value: str) -> str:
    """Free text with Markdown's special characters escaped, on one line."""
    return " ".join(_MARKDOWN_SPECIAL.sub(r"\\\1", value).split())


def plural(count: int, word: str) -> str:
    """``1 step``, ``2 steps``."""
    return f"{count} {word}{'' if count == 1 else 's'}"
