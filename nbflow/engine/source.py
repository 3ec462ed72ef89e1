"""The notebook papermill runs for a step, and finding the step's cells in its output.

papermill is handed a copy of the step's notebook as :func:`read_notebook` gives it
(what ``nbflow validate`` checked): nbformat 3 upgraded, every cell with a
deterministic id, so the same inputs give byte-identical executed notebooks.
Further differences from the file:

- A notebook that names no language (nbformat 3) gets its kernel's, which papermill
  needs to write parameters (nbclient then records the kernel's own).
- A stale ``injected-parameters`` cell (papermill or Ploomber saved it) is always
  replaced. papermill replaces it only when it is given parameters; for a step
  given none it is emptied here, as papermill would write it for no parameters, so
  the executed notebook shows what the step really got.
- The cell ids map a cell of the executed notebook back to its index in the
  step's own notebook: papermill removes its old error-marker cells and inserts new
  ones, so positions shift, but ids do not.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.manifest.notebook_file import NotebookFile, read_notebook
from nbflow.manifest.notebooks import INJECTED_TAG
from nbflow.store.notebooks import dump_notebook

__all__ = ["StepSource", "injected_cell", "parameters_source", "prepare_source"]


@dataclass(frozen=True)
class StepSource:
    """The copy papermill reads (``path``) and the ids of the step's own cells, in order."""

    path: Path
    cell_ids: tuple[str, ...]
    upgraded_from: str | None = None
    nbformat: tuple[int, int] = (4, 5)  # the copy's format version (major, minor)

    def index_of(self, cell: Mapping[str, Any]) -> int | None:
        """The 0-based index, in the step's own notebook, of a cell of the executed
        one; None for a cell papermill inserted."""
        cell_id = cell.get("id")
        return self.cell_ids.index(cell_id) if cell_id in self.cell_ids else None


def prepare_source(
    notebook: Path, folder: Path, parameters: Mapping[str, Any], kernel: str
) -> StepSource:
    """Write the notebook papermill runs into ``folder``; NotebookError if unusable."""
    source: NotebookFile = read_notebook(notebook)
    data = source.data
    cell_ids = tuple(cell["id"] for cell in data["cells"])
    if not _language(data["metadata"]):  # papermill needs it to write parameters
        info = data["metadata"].setdefault("language_info", {})
        info["name"] = _kernel_language(kernel)  # nbclient then sets it from the kernel
    if not parameters:
        _empty_injected(data, kernel)
    # not the name of papermill's draft; an .ipynb for a text notebook too (the
    # notebook jupytext read from it), which papermill reads without a warning
    name = notebook.name if notebook.suffix == ".ipynb" else f"{notebook.name}.ipynb"
    path = folder / f"source-{name}"
    path.write_text(dump_notebook(data), encoding="utf-8")
    version = (int(data["nbformat"]), int(data["nbformat_minor"]))
    return StepSource(path, cell_ids, source.upgraded_from, version)


def parameters_source(
    kernel: str, metadata: Mapping[str, Any], parameters: Mapping[str, Any]
) -> str:
    """The source of the injected-parameters cell papermill writes for ``parameters``."""
    from papermill.translators import translate_parameters

    language = _language(metadata) or "python"
    return str(translate_parameters(kernel, language, dict(parameters), "Parameters"))


def _empty_injected(data: dict[str, Any], kernel: str) -> None:
    """Replace a stale injected-parameters cell with the one papermill writes for no
    parameters (``# Parameters``, in the kernel's language)."""
    for index, cell in enumerate(data["cells"]):
        if INJECTED_TAG in cell.get("metadata", {}).get("tags", ()):
            source = parameters_source(kernel, data["metadata"], {})
            data["cells"][index] = {
                "cell_type": "code",
                "execution_count": None,
                "id": cell["id"],
                "metadata": {"tags": [INJECTED_TAG]},
                "outputs": [],
                "source": source,
            }
            return


def injected_cell(
    data: Mapping[str, Any], parameters: Mapping[str, Any], kernel: str
) -> tuple[int, dict[str, Any]]:
    """The injected-parameters cell papermill writes into the notebook ``data`` (nbformat
    4) for ``parameters``, and the index papermill puts it at (``nbflow inject``)."""
    import nbformat
    from papermill.parameterize import parameterize_notebook

    language = _language(data.get("metadata", {})) or _kernel_language(kernel)
    nb = nbformat.from_dict(copy.deepcopy(dict(data)))  # type: ignore[no-untyped-call]
    nb.metadata.setdefault("papermill", {})  # as papermill's execute_notebook prepares it
    for cell in nb.cells:  # as papermill's load_notebook_node: it reads every cell's tags
        cell.metadata.setdefault("tags", [])
    done = parameterize_notebook(nb, dict(parameters), kernel_name=kernel, language=language)
    index = next(i for i, c in enumerate(done.cells) if INJECTED_TAG in c.metadata.get("tags", ()))
    return index, copy.deepcopy(dict(done.cells[index]))


def _language(metadata: Mapping[str, Any]) -> str:
    """The notebook's language, as papermill reads it ("" if it names none)."""
    spec = metadata.get("kernelspec") or {}
    info = metadata.get("language_info") or {}
    return str(spec.get("language") or info.get("name") or "")


def _kernel_language(kernel: str) -> str:
    """The language of an installed kernel (nbformat 3 notebooks do not say)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return str(KernelSpecManager().get_kernel_spec(kernel).language or "python")
    except NoSuchKernel:  # the step fails to start its kernel and says so
        return "python"
