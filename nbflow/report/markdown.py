"""Cutting Markdown to a length, at a block boundary, closing what is left open.

Design decisions:

- Length is counted in UTF-16 code units: what JavaScript's ``length`` counts, and never
  less than code points, so a body within a limit in these units is within it
  whichever way GitHub counts characters (an emoji is two units, one code point).
- Cuts fall at line ends only, so no table row, code span or link is split.
- A cut inside a fenced code block closes the fence; one inside ``<details>`` closes it.
  A diagram (a ``mermaid``, ``geojson``, ``topojson`` or ``stl`` fence) cut short would
  not render: the cut falls before it. A table is cut after a row, never between its
  header and delimiter rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = ["cut_markdown", "utf16_length"]

DIAGRAMS = frozenset({"mermaid", "geojson", "topojson", "stl"})

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_DELIMITER_ROW = re.compile(r"^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_DETAILS_OPEN = re.compile(r"<details\b", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)


def utf16_length(text: str) -> int:
    """The length of ``text`` in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def cut_markdown(text: str, limit: int, note: str) -> str:
    """``text`` when it fits ``limit`` UTF-16 code units; else its longest beginning
    that ends at a block boundary, with what is open there closed, then ``note``."""
    if utf16_length(text) <= limit:
        return text
    budget = limit - utf16_length(note)
    lines = text.splitlines(keepends=True)
    cut, closing = 0, ""
    used, state = 0, _Open()
    for index, line in enumerate(lines):
        used += utf16_length(line)
        if used > budget:
            break
        state = state.after(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if state.may_end_before(following) and used + utf16_length(state.closing()) <= budget:
            cut, closing = index + 1, state.closing()
    if cut == 0:  # not even the first line fits: cut it, at a code point
        return _prefix(text, budget) + note
    return "".join(lines[:cut]) + closing + note


@dataclass(frozen=True)
class _Open:
    """What is open after a line: a code fence, ``<details>`` blocks, a table."""

    fence: str = ""  # the open fence's marker (``` or ~~~, maybe longer); "" outside one
    diagram: bool = False  # the open fence holds a diagram
    details: int = 0
    table: bool = False  # the line was a table's header or row

    def after(self, line: str) -> _Open:
        fence = _FENCE.match(line.rstrip("\r\n"))
        if self.fence:
            return replace(self, fence="", diagram=False) if self._closes(fence) else self
        if fence and not (fence[1][0] == "`" and "`" in fence[2]):
            info = fence[2].split()
            diagram = bool(info) and info[0].lower() in DIAGRAMS
            return replace(self, fence=fence[1], diagram=diagram, table=False)
        opened = len(_DETAILS_OPEN.findall(line)) - len(_DETAILS_CLOSE.findall(line))
        details = max(self.details + opened, 0)
        return replace(self, details=details, table=line.lstrip().startswith("|"))

    def _closes(self, fence: re.Match[str] | None) -> bool:
        """Whether a fence line closes the open fence: same character, as long, no info."""
        if fence is None or fence[2].strip():
            return False
        return fence[1][0] == self.fence[0] and len(fence[1]) >= len(self.fence)

    def may_end_before(self, following: str) -> bool:
        """Whether the text may be cut after this line, before ``following``."""
        header = self.table and _DELIMITER_ROW.match(following.rstrip("\r\n"))
        return not self.diagram and not header

    def closing(self) -> str:
        """What closes what is open, innermost first."""
        fence = f"{self.fence}\n" if self.fence else ""
        return fence + "\n</details>\n" * self.details


def _prefix(text: str, budget: int) -> str:
    """The longest beginning of ``text`` within ``budget`` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            return text[:index]
    return text
