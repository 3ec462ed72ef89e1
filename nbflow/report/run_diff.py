"""What changed in the notebooks between two runs: ``nbflow diff`` and the report's
"What changed in the notebooks" section.

Design decisions:

- Notebooks are read from the run folders, as nbflow wrote them: secrets masked,
  volatile metadata moved out (store/notebooks.py). Only the notebooks the records
  name (each step's, each item's) are compared, paired by file name, so a step's
  items pair with the same items of the other run.
- A notebook only one run has is named (``added`` or ``removed``), not listed cell
  by cell; one that cannot be read is named ``unreadable``.
- With a step, only that step's notebook (or its items') is compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.errors import UsageError
from nbflow.report.notebook_diff import CellChange, diff_cells
from nbflow.run_record import RunRecord

__all__ = ["NotebookDiff", "RunDiff", "diff_runs", "render_text"]


@dataclass(frozen=True)
class NotebookDiff:
    """One notebook that changed: which cells, or that it is new, gone or unreadable."""

    label: str  # the step id, or an item's label: fit[svc]
    notebook: str  # its file name in the run folder
    state: str  # "changed", "added", "removed" or "unreadable"
    cells: tuple[CellChange, ...] = ()


@dataclass(frozen=True)
class RunDiff:
    before: RunRecord
    after: RunRecord
    compared: int  # notebooks compared
    notebooks: tuple[NotebookDiff, ...]  # those that changed

    @property
    def changed(self) -> bool:
        return bool(self.notebooks)


def diff_runs(
    before: tuple[Path, RunRecord], after: tuple[Path, RunRecord], step: str | None = None
) -> RunDiff:
    """Compare the notebooks of two runs, each given as its folder and record."""
    old, new = dict(_notebooks(before[1], step)), dict(_notebooks(after[1], step))
    if step is not None and not old and not new:
        raise UsageError(
            f"no step '{step}' with a notebook in run {before[1].run_id} or {after[1].run_id}"
        )
    names = list(new) + [n for n in old if n not in new]
    found = [_diff_notebook(n, new.get(n) or old[n], before[0], after[0]) for n in names]
    changed = tuple(d for d in found if d is not None)
    return RunDiff(before[1], after[1], len(names), changed)


def render_text(diff: RunDiff) -> str:
    """``nbflow diff``'s output: each changed notebook, its changed cells and lines."""
    head = f"{diff.before.workflow} {diff.before.run_id} → {diff.after.run_id}: "
    if not diff.changed:
        return head + f"no output changed in {_plural(diff.compared, 'notebook')}"
    lines = [head + f"{_plural(len(diff.notebooks), 'notebook')} changed"]
    for notebook in diff.notebooks:
        lines.append(f"{notebook.notebook} ({notebook.label}): {_summary(notebook)}")
        for cell in notebook.cells:
            lines.append(f"  {cell.summary}")
            lines += [f"    {line}" for line in cell.lines]
    return "\n".join(lines)


def _summary(notebook: NotebookDiff) -> str:
    if notebook.state != "changed":
        return notebook.state
    return f"{_plural(len(notebook.cells), 'cell')} changed"


def _notebooks(record: RunRecord, step: str | None) -> Iterator[tuple[str, str]]:
    """(file name, label) of each notebook ``record`` names (of ``step`` only)."""
    for s in record.steps:
        if step is not None and s.id != step:
            continue
        if s.notebook:
            yield s.notebook, s.id
        for item in s.items:
            if item.notebook:
                yield item.notebook, item.label(s.id)


def _diff_notebook(name: str, label: str, before: Path, after: Path) -> NotebookDiff | None:
    """How notebook ``name`` changed from the run folder ``before`` to ``after``."""
    old_text, new_text = _read_text(before / name), _read_text(after / name)
    if old_text is not None and old_text == new_text:
        return None  # the same text (a cached step's notebook is a copy): nothing changed
    old, new = _parse(old_text), _parse(new_text)
    if old is None and new is None:
        return None
    if old is None or new is None:
        missing = (before if old is None else after) / name
        state = "unreadable" if missing.exists() else ("added" if old is None else "removed")
        return NotebookDiff(label, name, state)
    cells = diff_cells(old, new)
    return NotebookDiff(label, name, "changed", tuple(cells)) if cells else None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None


def _parse(text: str | None) -> dict[str, Any] | None:
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
