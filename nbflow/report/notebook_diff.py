"""Which cells' outputs changed between two executed notebooks, and how, in a few lines.

Design decisions:

- Cells are matched by their id when both notebooks have ids on every cell (nbformat
  4.5, and every notebook nbflow executes: papermill's cells get stable ids in
  store/notebooks.py), else by position (nbformat 4.4 and older have no ids). A cell
  whose id has no partner is paired with the cell at its position when that one has
  none either: nbflow makes a 4.4 notebook's ids from the cells' source, so an edited
  cell changes id. A cell only one side has counts when it has outputs.
- A cell's outputs are compared as lines of text: stream text and ``text/plain`` (or
  ``text/markdown``, ``text/html``, JSON) as they are; an error as ``Name: message``
  (its traceback is noise between two runs: paths, colours); anything binary or rich
  (images, widgets) as one line naming its MIME type, size and a short digest, so a
  changed image is named, never dumped. The lines are diffed with difflib: a reviewer
  reads ``- accuracy 0.81`` / ``+ accuracy 0.84``.
- nbdime's ``diff_notebooks`` was weighed: it matches cells by id and else by source
  similarity, not position, and returns a patch tree that would still have to be
  turned into these lines; difflib over the rendered outputs says the same in less.
- The injected-parameters cell has no outputs; when its source changed, it is listed
  first (as ``parameters``): the values a run received explain the changes below.
- Execution counts and metadata are left out: they change when nothing a reader
  sees did.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbflow.manifest.notebook_file import multiline_text as _text

__all__ = ["CellChange", "diff_cells", "output_lines"]

#: Outputs shown as their text; any other MIME type is named with its size.
TEXT_TYPES = ("text/plain", "text/markdown", "text/latex", "application/json")
INJECTED = "injected-parameters"
PARAMETERS = "parameters"  # how the injected-parameters cell is labelled


@dataclass(frozen=True)
class CellChange:
    """A cell whose outputs (or, for the injected-parameters cell, values) changed."""

    label: str  # "cell 3", "cell 3 (id 7f2a)", "parameters"
    kind: str  # "changed", "added" (only in the second notebook) or "removed"
    lines: tuple[str, ...]  # difflib's lines, "-…" and "+…", no headers

    @property
    def summary(self) -> str:
        """``cell 2 (id x): outputs changed``, ``parameters: values changed``."""
        what = "values" if self.label == PARAMETERS else "outputs"
        return f"{self.label}: {what} {self.kind}"


def diff_cells(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[CellChange]:
    """The cells of ``after`` whose outputs differ from ``before``'s, in ``after``'s
    order, then the cells only ``before`` had."""
    old, new = _cells(before), _cells(after)
    by_id = _all_have_ids(old) and _all_have_ids(new)
    pairs = _pairs(
        [_key(c, i, by_id) for i, c in enumerate(old)],
        [_key(c, i, by_id) for i, c in enumerate(new)],
    )
    changes = [
        _change(old[pairs[i]] if i in pairs else None, c, i, by_id) for i, c in enumerate(new)
    ]
    paired = set(pairs.values())
    gone = [_change(c, None, i, by_id) for i, c in enumerate(old) if i not in paired]
    return [c for c in changes + gone if c is not None]


def _pairs(old: Sequence[str], new: Sequence[str]) -> dict[int, int]:
    """Which cell of the first notebook each cell of the second is (by index): the one
    with the same key; else, when neither has a partner, the one at the same position
    (nbflow gives a 4.4 notebook's cells ids made from their source: an edited cell
    gets another id, and is still the same cell)."""
    at = {key: i for i, key in enumerate(old)}
    pairs = {i: at[key] for i, key in enumerate(new) if key in at}
    free = set(range(len(old))) - set(pairs.values())
    for i in range(len(new)):
        if i not in pairs and i in free:
            pairs[i] = i
    return pairs


def output_lines(cell: Mapping[str, Any]) -> list[str]:
    """A cell's outputs as the lines they are compared by."""
    if _is_injected(cell):
        return _text(cell.get("source", "")).splitlines()
    lines: list[str] = []
    for output in _list(cell.get("outputs")):
        lines += _output_lines(output) if isinstance(output, Mapping) else []
    return lines


def _change(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, index: int, by_id: bool
) -> CellChange | None:
    old = output_lines(before) if before is not None else []
    new = output_lines(after) if after is not None else []
    if old == new:
        return None
    kind = "changed" if before is not None and after is not None else "added"
    kind = "removed" if after is None else kind
    cell = after if after is not None else before
    assert cell is not None
    lines = [line.rstrip("\n") for line in difflib.ndiff(old, new) if line[:1] in "-+"]
    return CellChange(_label(cell, index, by_id), kind, tuple(lines))


def _output_lines(output: Mapping[str, Any]) -> list[str]:
    kind = output.get("output_type")
    if kind == "stream":
        return _text(output.get("text", "")).splitlines()
    if kind == "error":
        return [f"{output.get('ename', '')}: {output.get('evalue', '')}"]
    data = output.get("data")
    return _bundle_lines(data) if isinstance(data, Mapping) else []


def _bundle_lines(data: Mapping[str, Any]) -> list[str]:
    """A MIME bundle: its text when it has a text form, each other type named."""
    shown = next((m for m in TEXT_TYPES if m in data), None)
    lines = _mime_text(shown, data[shown]).splitlines() if shown else []
    return lines + [_named(m, v) for m, v in data.items() if m != shown and m != "text/plain"]


def _mime_text(mime: str, value: Any) -> str:
    if mime == "application/json" and not isinstance(value, str):
        return json.dumps(value, indent=1, sort_keys=True)
    return _text(value)


def _named(mime: str, value: Any) -> str:
    """``[image/png, 12,345 bytes, 1a2b3c4d]``: what it is, how big, and a digest
    so that two images of one size still differ."""
    raw = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    raw = _text(raw)
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:8]
    return f"[{mime}, {len(raw):,} bytes, {digest}]"


def _label(cell: Mapping[str, Any], index: int, by_id: bool) -> str:
    if _is_injected(cell):
        return PARAMETERS
    return f"cell {index} (id {cell['id']})" if by_id else f"cell {index}"


def _key(cell: Mapping[str, Any], index: int, by_id: bool) -> str:
    if _is_injected(cell):
        return INJECTED  # papermill's cell: one per notebook, whatever its id
    return str(cell["id"]) if by_id else str(index)


def _cells(notebook: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in _list(notebook.get("cells")) if isinstance(c, Mapping)]


def _all_have_ids(cells: Sequence[Mapping[str, Any]]) -> bool:
    return all(isinstance(c.get("id"), str) for c in cells)


def _is_injected(cell: Mapping[str, Any]) -> bool:
    metadata = cell.get("metadata")
    tags = metadata.get("tags", ()) if isinstance(metadata, Mapping) else ()
    return isinstance(tags, list) and INJECTED in tags


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
