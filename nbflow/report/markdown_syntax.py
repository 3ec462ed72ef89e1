"""Markdown written safely, for reports: code spans and fenced blocks that outlast the
backticks inside them, free text with Markdown's special characters escaped, GitHub
tables whose cells escape ``|`` and keep to one line, and sections that vanish when
empty. (Cutting Markdown to a length is ``markdown.py``'s.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#~])")


def md_section(title: str, body: str) -> str:
    """A level-2 section; nothing when ``body`` is empty."""
    return f"## {title}\n\n{body}" if body else ""


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub table; nothing when there are no rows."""
    if not rows:
        return ""
    lines = [_row(header), _row(["---"] * len(header)), *(_row(row) for row in rows)]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(text: str) -> str:
    """A table cell: ``|`` escaped (also inside code spans, as GFM wants), one line."""
    lines = text.replace("|", "\\|").splitlines() or [""]
    return "<br>".join(lines)


def code_span(text: str) -> str:
    """An inline code span, fenced with more backticks than ``text`` holds in a row."""
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str, info: str) -> str:
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def escaped_text(text: str) -> str:
    """Free text with Markdown's special characters escaped, on one line."""
    return " ".join(_MARKDOWN_SPECIAL.sub(r"\\\1", text).split())
