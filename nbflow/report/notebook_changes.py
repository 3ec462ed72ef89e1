"""The report's "What changed in the notebooks" section: a run against the previous
run of its workflow, cell by cell (report/run_diff.py), kept short.

Design decisions:

- Short by construction: each changed cell gets one line and at most
  :data:`MAX_LINES` diff lines; at most :data:`MAX_CELLS` cells are shown, then a
  count and the ``nbflow diff`` command that shows them all. The whole section is
  then cut to :data:`MAX_CHARS` by report/markdown.py, which closes an open fence.
- Each notebook links to the executed notebook, as the steps table does.
- The previous run is the one the output changes compare with
  (store/runs.previous_record: the latest succeeded run before this one), read from
  the working tree's run folders; none, and the section is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from nbflow.report.blocks import code, fenced, plural, section
from nbflow.report.markdown import cut_markdown
from nbflow.report.notebook_diff import CellChange
from nbflow.report.run_diff import NotebookDiff, RunDiff, diff_runs
from nbflow.run_record import RunRecord
from nbflow.store.runs import previous_record, run_dir

__all__ = ["MAX_CELLS", "MAX_CHARS", "MAX_LINES", "diff_with_previous", "render_notebook_changes"]

MAX_CELLS = 10
MAX_LINES = 4
MAX_CHARS = 4000
TITLE = "What changed in the notebooks"


def diff_with_previous(runs_dir: Path, folder: Path, record: RunRecord) -> RunDiff | None:
    """``record``'s notebooks (in ``folder``) against the previous run's; None when
    there is no previous run to compare with."""
    previous = previous_record(runs_dir, record)
    if previous is None:
        return None
    earlier = run_dir(runs_dir, previous.workflow, previous.run_id)
    return diff_runs((earlier, previous), (folder, record))


def render_notebook_changes(
    diff: RunDiff | None, notebook_url: Callable[[str], str] | None = None
) -> str:
    """The section, or "" when there is nothing to compare with."""
    if diff is None:
        return ""
    url = notebook_url or quote
    against = f"Compared with run {code(diff.before.run_id)}"
    if not diff.changed:
        body = f"{against}: no output changed in {plural(diff.compared, 'notebook')}."
        return section(TITLE, body)
    changed = len(diff.notebooks)
    parts = [f"{against}: {changed} of {plural(diff.compared, 'notebook')} changed."]
    shown = 0
    for notebook in diff.notebooks:
        cells = notebook.cells[: max(MAX_CELLS - shown, 0)]
        parts.append(_notebook(notebook, url, cells))
        shown += len(cells)
    hidden = sum(len(n.cells) for n in diff.notebooks) - shown
    if hidden:
        command = f"nbflow diff {diff.before.run_id} {diff.after.run_id}"
        parts.append(f"…and {plural(hidden, 'more cell')}: {code(command)} shows them all.")
    note = f"\n\n_Cut short: {code(f'nbflow diff {diff.before.run_id} {diff.after.run_id}')}._\n"
    return cut_markdown(section(TITLE, "\n\n".join(parts)), MAX_CHARS, note).rstrip("\n")


def _notebook(
    notebook: NotebookDiff, url: Callable[[str], str], cells: tuple[CellChange, ...]
) -> str:
    link = f"[{code(notebook.notebook)}]({url(notebook.notebook)})"
    if notebook.state != "changed":
        return f"**{link}** ({code(notebook.label)}): {notebook.state}"
    head = f"**{link}** ({code(notebook.label)}): {plural(len(notebook.cells), 'cell')} changed"
    return "\n\n".join([head, *(_cell(c) for c in cells)])


def _cell(cell: CellChange) -> str:
    lines = list(cell.lines[:MAX_LINES])
    if len(cell.lines) > MAX_LINES:
        lines.append(f"… {plural(len(cell.lines) - MAX_LINES, 'more line')}")
    return f"{cell.summary}\n{fenced(chr(10).join(lines), 'diff')}"
