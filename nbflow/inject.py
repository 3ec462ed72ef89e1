"""``nbflow inject``: a step's real values in its own notebook, for work in Jupyter.

Ploomber's ``nb --inject`` is the model. The cell is papermill's own
``injected-parameters`` cell (``papermill.parameterize``), placed where papermill
places it: right after the cell tagged ``parameters`` (replacing an injected cell
already there). It holds what the step would receive in a run
(engine/received.py), secrets masked as in an executed notebook: the notebook
is one a person commits. A run replaces it (engine/source.py) and ``nbflow validate``
warns about one left in a notebook, so it is meant to be removed before committing:
``nbflow inject --remove``. Both write the notebook back in the JSON layout it was
read in (store/notebook_layout.py), so inject then remove leaves ``git diff`` empty.
A jupytext text notebook (``.py``, ``.md``) is read and written back with jupytext,
in its own format: the cell becomes ``# %% tags=["injected-parameters"]`` (or the
format's equivalent); a file jupytext would not write back byte for byte is
rewritten as jupytext writes it, and inject says so.

Only the cell is added: not papermill's ``metadata.papermill.parameters``, which a
run writes into the executed notebook anyway. Its cell id is ``injected-parameters``
(stable, unlike papermill's random one), or none in an nbformat 4.4 notebook, whose
cells have none.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nbflow.engine.received import received_parameters
from nbflow.errors import UsageError
from nbflow.manifest.model import Workflow
from nbflow.manifest.notebook_file import read_notebook
from nbflow.manifest.notebooks import INJECTED_TAG
from nbflow.manifest.text_notebook import is_text_notebook, parse_text
from nbflow.plan import check_step_ids
from nbflow.secrets import Redactor
from nbflow.store.notebook_layout import NBFORMAT, Layout, TextLayout, find_layout
from nbflow.store.runs import write_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Injected:
    """What ``inject`` wrote: where, which values, and whether the file's layout (JSON,
    or a text notebook's as jupytext writes it) could not be kept (``reformatted``:
    ``git diff`` shows more than the cell)."""

    notebook: Path
    parameters: dict[str, Any]
    reformatted: bool = False


def inject(
    workflow: Workflow, step_id: str, run_id: str | None = None, now: datetime | None = None
) -> Injected:
    """Write the injected-parameters cell ``step_id`` would get in a run (or got in run
    ``run_id``) into its notebook; UsageError when a value is not known."""
    redactor = Redactor.from_environment(workflow.secrets, os.environ)
    parameters = redactor.data(received_parameters(workflow, step_id, run_id, now))
    step = workflow.step(step_id)
    path = workflow.notebook_path(step)
    data, layout, kept = _read(path)
    from nbflow.engine.source import injected_cell

    index, cell = injected_cell(data, parameters, step.kernel)
    cells = data["cells"]
    had = _injected_index(cells)
    cells[index : index + (had is not None)] = [_as_saved(cell, data, cells)]
    write_atomic(path, layout.dump(data))
    return Injected(path, parameters, not kept)


def remove_injected(workflow: Workflow, step_ids: Iterable[str] = ()) -> list[Path]:
    """Take the injected-parameters cells out of the notebooks of ``step_ids`` (all
    steps when empty); the notebooks that had one."""
    ids = list(step_ids)
    check_step_ids(workflow, ids)
    paths = dict.fromkeys(workflow.notebook_path(workflow.step(s)) for s in ids) or dict.fromkeys(
        workflow.notebook_path(s) for s in workflow.steps
    )
    changed = []
    for path in paths:
        data, layout, _ = _read(path)
        kept = [c for c in data["cells"] if not _is_injected(c)]
        if len(kept) != len(data["cells"]):
            data["cells"] = kept
            write_atomic(path, layout.dump(data))
            changed.append(path)
    return changed


def _read(path: Path) -> tuple[dict[str, Any], Layout | TextLayout, bool]:
    """The notebook's JSON as is (not upgraded), the layout to write it back in, and
    whether that layout reproduces the file."""
    read_notebook(path)  # NotebookError for a notebook a run could not use either
    text = path.read_text(encoding="utf-8")
    if is_text_notebook(path):
        data = json.loads(json.dumps(parse_text(path, text)))
        text_layout = TextLayout(path.suffix)
        return data, text_layout, text_layout.dump(data) == text
    data = json.loads(text)
    if data.get("nbformat") != 4:
        raise UsageError(
            f"{path}: nbformat {data.get('nbformat')} notebook: nbflow inject writes "
            "nbformat 4 only; open and save it in Jupyter to upgrade it"
        )
    layout = find_layout(text, data)
    return data, layout or NBFORMAT, layout is not None


def _as_saved(cell: dict[str, Any], data: Mapping[str, Any], cells: list[Any]) -> dict[str, Any]:
    """``cell`` as the notebook keeps its cells: an id only where cells have ids, and
    source as a list of lines where the other cells have one."""
    cell = {k: v for k, v in cell.items() if k != "id"}
    cell["metadata"] = {"tags": [INJECTED_TAG]}
    if data.get("nbformat_minor", 0) >= 5:
        cell["id"] = INJECTED_TAG
    if any(isinstance(c.get("source"), list) for c in cells):
        cell["source"] = str(cell["source"]).splitlines(keepends=True)
    return cell


def _injected_index(cells: Iterable[Mapping[str, Any]]) -> int | None:
    return next((i for i, c in enumerate(cells) if _is_injected(c)), None)


def _is_injected(cell: Mapping[str, Any]) -> bool:
    metadata = cell.get("metadata")
    return isinstance(metadata, Mapping) and INJECTED_TAG in metadata.get("tags", ())
