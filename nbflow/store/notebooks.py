"""Executed notebooks that diff cleanly: volatile metadata moves to the run record.

papermill and nbclient stamp every executed notebook with wall-clock times
(``metadata.papermill`` start/end/duration, per-cell ``metadata.papermill`` and
``metadata.execution``), the output path (which holds the run id) and a random id
for the cell they insert. Committed as is, every run would differ from the last in
every cell even when nothing else changed. :func:`clean_notebook` runs after every
step (not only when committing; a step's notebook is written once, cleaned:
:func:`write_clean`), moves those values into the step's record
(``StepRecord.timings``), gives inserted cells stable ids and makes the input path
relative (and, in the record, the output path), so the same inputs give byte-identical
notebooks and no record names the folder a checkout happens to be in. The kernel's
``language_info`` stays: it is the same on one machine and says what ran the code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbflow.store.runs import write_atomic

log = logging.getLogger(__name__)

# What stays in the notebook's ``metadata.papermill``: what it was run with.
KEPT_PAPERMILL_KEYS = ("parameters", "default_parameters", "input_path")
VOLATILE_CELL_KEYS = ("papermill", "execution")
INSERTED_TAGS = ("injected-parameters", "papermill-error-cell-tag")


def clean_notebook(path: Path, *, root: Path | None = None) -> dict[str, Any]:
    """Move volatile metadata out of the notebook at ``path``, rewrite it, and return
    what was moved (``{}`` when the notebook is missing or unreadable).

    ``input_path`` and ``output_path`` are made relative to ``root`` (the project
    root) when inside it.
    """
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.debug("%s: not cleaned: %s", path, exc)
        return {}
    if not isinstance(notebook, dict):
        return {}
    return write_clean(path, notebook, root=root)


def write_clean(
    path: Path, notebook: dict[str, Any], *, root: Path | None = None
) -> dict[str, Any]:
    """Write an executed notebook to ``path`` once, cleaned as :func:`clean_notebook`
    leaves it (``notebook`` is changed); return what was moved out."""
    timings = _clean(notebook, root)
    write_atomic(path, dump_notebook(notebook))
    return timings


def dump_notebook(notebook: Mapping[str, Any]) -> str:
    """A notebook as nbformat writes it: sorted keys, one-space indent, final newline."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _clean(notebook: dict[str, Any], root: Path | None) -> dict[str, Any]:
    timings: dict[str, Any] = {}
    metadata = notebook.get("metadata")
    if isinstance(metadata, dict):
        moved = _clean_papermill(metadata, root)
        if moved:
            timings["papermill"] = moved
        if "execution" in metadata:
            timings["execution"] = metadata.pop("execution")
    cells = notebook.get("cells")
    if isinstance(cells, list):
        _stable_inserted_ids(cells)
        moved_cells = [moved for i, cell in enumerate(cells) if (moved := _clean_cell(i, cell))]
        if moved_cells:
            timings["cells"] = moved_cells
    return timings


def _clean_papermill(metadata: dict[str, Any], root: Path | None) -> dict[str, Any]:
    papermill = metadata.get("papermill")
    if not isinstance(papermill, dict):
        return {}
    moved = {k: papermill.pop(k) for k in list(papermill) if k not in KEPT_PAPERMILL_KEYS}
    if root is not None:
        for values in (papermill, moved):
            for key in ("input_path", "output_path"):  # the record holds no absolute path
                if isinstance(values.get(key), str):
                    values[key] = _relative(values[key], root)
    return moved


def _clean_cell(index: int, cell: Any) -> dict[str, Any]:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    if not isinstance(metadata, dict):
        return {}
    moved = {k: metadata.pop(k) for k in VOLATILE_CELL_KEYS if k in metadata}
    if not moved:
        return {}
    return {"cell": index, **({"id": cell["id"]} if "id" in cell else {}), **moved}


def _stable_inserted_ids(cells: list[Any]) -> None:
    """papermill gives the cells it inserts random ids; name them after their tag."""
    taken = {c.get("id") for c in cells if isinstance(c, dict)}
    for cell in cells:
        tags = cell.get("metadata", {}).get("tags", ()) if isinstance(cell, dict) else ()
        tag = next((t for t in INSERTED_TAGS if t in tags), None)
        if tag is None or "id" not in cell or cell["id"] == tag:
            continue
        new, n = tag, 1
        while new in taken:
            n += 1
            new = f"{tag}-{n}"
        taken.discard(cell["id"])
        taken.add(new)
        cell["id"] = new


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return path
