"""Text notebooks: a step's ``notebook:`` written as a jupytext ``.py`` or ``.md`` file.

Many teams keep notebooks as text for clean diffs. `jupytext
<https://jupytext.readthedocs.io>`_ reads them (``.py`` in the percent or light format,
``.md`` Markdown; a file without a jupytext header is read by its content), keeping
each cell's tags (``# %% tags=["parameters"]``), so the rest of nbflow sees an
ordinary nbformat 4 notebook:

- jupytext's cell ids are random: they are dropped, and
  :mod:`nbflow.manifest.notebook_file` gives the deterministic ids every notebook gets;
- its ``metadata.jupytext`` (the text format, pairing) is dropped: the executed
  notebook in the run folder is an ``.ipynb`` paired with nothing; a ``kernelspec`` in
  the header is kept (the step's kernel, as for an ``.ipynb``);
- :func:`cell_lines` finds the line of the file where each code cell's source
  starts, so a problem in a cell is reported at the text file's line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "NOTEBOOK_SUFFIXES",
    "TEXT_SUFFIXES",
    "cell_lines",
    "is_text_notebook",
    "parse_text",
    "read_text",
]

TEXT_SUFFIXES = (".py", ".md")
NOTEBOOK_SUFFIXES = (".ipynb", *TEXT_SUFFIXES)


def is_text_notebook(path: Path | str) -> bool:
    """Whether ``path`` names a jupytext text notebook (by its suffix)."""
    return str(path).endswith(TEXT_SUFFIXES)


def parse_text(path: Path, text: str) -> Any:
    """jupytext's notebook for ``text``, the content of ``path`` (an nbformat
    NotebookNode, as jupytext gives it); ValueError with jupytext's reason if it
    cannot read it."""
    import jupytext

    try:
        return jupytext.reads(text, fmt=path.suffix)
    except Exception as exc:  # a bad YAML header, a format jupytext refuses
        reason = " ".join(str(exc).split())
        raise ValueError(f"jupytext cannot read it ({type(exc).__name__}: {reason})") from None


def read_text(path: Path, text: str) -> dict[str, Any]:
    """The notebook ``text`` holds as plain JSON data, without jupytext's cell ids and
    metadata; ValueError if jupytext cannot read it."""
    data: dict[str, Any] = json.loads(json.dumps(parse_text(path, text)))
    data["metadata"].pop("jupytext", None)
    for cell in data["cells"]:
        cell.pop("id", None)
    return data


def cell_lines(text: str, cells: Sequence[dict[str, Any]]) -> tuple[int | None, ...]:
    """For each cell, the 1-based line of ``text`` where its source starts (code cells
    with a source), else None. Code is written as is in every format jupytext reads,
    magics commented out in ``.py`` (``# %time``), so the cells are found in order."""
    lines = [line.rstrip() for line in text.splitlines()]
    found: list[int | None] = []
    at = 0
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        wanted = [line.rstrip() for line in source.splitlines()]
        start = _find(lines, wanted, at) if cell.get("cell_type") == "code" and wanted else None
        found.append(None if start is None else start + 1)
        if start is not None:
            at = start + len(wanted)
    return tuple(found)


def _find(lines: list[str], wanted: list[str], start: int) -> int | None:
    for begin in range(start, len(lines) - len(wanted) + 1):
        if all(_same(lines[begin + k], line) for k, line in enumerate(wanted)):
            return begin
    return None


def _same(written: str, source: str) -> bool:
    return written == source or written == f"# {source}"
