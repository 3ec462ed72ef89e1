"""Rewriting a notebook someone keeps in Git without reformatting it.

``nbflow inject`` adds a cell to a step's own notebook and ``--remove`` takes it
out again; afterwards ``git diff`` must show nothing. So a notebook is written back
in the JSON layout it was read in: indent, key order, escaping and final newline,
found by trying the layouts JSON writers use (nbformat's is one space, sorted keys,
non-ASCII kept) until one reproduces the file byte for byte. A file no such layout
reproduces (hand-edited JSON) is written in nbformat's layout, and the caller says so.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

_INDENTS: tuple[int | None, ...] = (1, 2, 4, None)


@dataclass(frozen=True)
class Layout:
    """How a notebook's JSON is laid out."""

    indent: int | None = 1
    sort_keys: bool = True
    ensure_ascii: bool = False
    newline: bool = True

    def dump(self, data: Any) -> str:
        """``data`` as JSON in this layout."""
        text = json.dumps(
            data, indent=self.indent, sort_keys=self.sort_keys, ensure_ascii=self.ensure_ascii
        )
        return text + "\n" if self.newline else text


NBFORMAT = Layout()  # how nbformat and Jupyter write notebooks


def find_layout(text: str, data: Any) -> Layout | None:
    """The layout that writes ``data`` (parsed from ``text``) back as ``text``; None
    when none does."""
    for indent, sort_keys, ascii_, newline in itertools.product(
        _INDENTS, (True, False), (False, True), (True, False)
    ):
        layout = Layout(indent, sort_keys, ascii_, newline)
        if layout.dump(data) == text:
            return layout
    return None


@dataclass(frozen=True)
class TextLayout:
    """A jupytext text notebook's format (``.py`` percent or light, ``.md``): the
    notebook is written back with jupytext, which keeps the format and the metadata
    filters its ``metadata.jupytext`` names. jupytext writes its own version into a
    header that has one: the file's is kept, so a teammate's older jupytext is no diff."""

    suffix: str

    def dump(self, data: Any) -> str:
        """``data`` (the notebook jupytext read, as JSON data) as the file's text."""
        import jupytext
        import nbformat

        notebook = nbformat.from_dict(data)  # type: ignore[no-untyped-call]
        text = str(jupytext.writes(notebook, fmt=self.suffix))
        jupytext_data = data.get("metadata", {}).get("jupytext", {})
        kept = jupytext_data.get("text_representation", {}).get("jupytext_version")
        if isinstance(kept, str):
            text = _VERSION.sub(lambda m: m.group(1) + kept, text, count=1)
        return text


_VERSION = re.compile(r"^(\W*\s+jupytext_version: ).*$", re.MULTILINE)
