"""read_notebook: any notebook as nbformat 4.5 with stable ids, or every problem, located."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbflow.manifest.notebook_file import NotebookError, read_notebook


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _cell(source: str, kind: str = "code") -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _v4(cells: list[Any], minor: int = 4) -> dict[str, Any]:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": minor}


def test_cells_without_ids_get_the_same_ids_on_every_read(tmp_path: Path) -> None:
    cells = [_cell("x = 1"), _cell("x = 1"), _cell("# x", "markdown")]
    path = _write(tmp_path / "nb.ipynb", _v4(cells))

    first, second = read_notebook(path), read_notebook(path)

    ids = [c["id"] for c in first.data["cells"]]
    assert ids == [c["id"] for c in second.data["cells"]]
    assert ids[1] == f"{ids[0]}-2"  # the same source twice: still unique
    assert len(set(ids)) == 3 and all(len(i) <= 64 for i in ids)
    assert first.data["nbformat_minor"] == 5
    assert first.upgraded_from is None


def test_ids_a_file_has_are_kept_and_never_reused(tmp_path: Path) -> None:
    kept = {**_cell("x = 1"), "id": "mine"}
    path = _write(tmp_path / "nb.ipynb", _v4([kept, _cell("y = 2")], minor=5))
    again = _write(tmp_path / "other.ipynb", _v4([_cell("y = 2")], minor=5))

    cells = read_notebook(path).data["cells"]

    assert cells[0]["id"] == "mine"
    assert cells[1]["id"] == read_notebook(again).data["cells"][0]["id"]


def test_nbformat_3_is_upgraded_with_stable_ids(tmp_path: Path) -> None:
    v3 = {
        "metadata": {"name": ""},
        "nbformat": 3,
        "nbformat_minor": 0,
        "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "language": "python",
                                   "metadata": {}, "outputs": [], "collapsed": False}],
                        "metadata": {}}],
    }  # fmt: skip
    path = _write(tmp_path / "nb.ipynb", v3)

    notebook = read_notebook(path)

    assert notebook.upgraded_from == "3.0"
    assert notebook.data["nbformat"] == 4 and notebook.data["nbformat_minor"] == 5
    assert [c["source"] for c in notebook.data["cells"]] == ["x = 1"]
    assert notebook.data["cells"][0]["id"] == read_notebook(path).data["cells"][0]["id"]


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    broken = _v4([_cell("x = 1"), {**_cell("y"), "source": 5}, None, {"cell_type": "code"}])
    path = _write(tmp_path / "nb.ipynb", broken)

    with pytest.raises(NotebookError) as exc:
        read_notebook(path)

    assert exc.value.problems == (
        f'{path}: cells[1].source: 5 is not a string or a list; give the cell its text: "source": '
        '"" (a string or a list of strings)',
        f"{path}: cells[2]: null is not a cell; remove it from the 'cells' list",
        f'{path}: cells[3].metadata: missing; add "metadata": {{}}',
    )
    assert str(exc.value) == "\n".join(exc.value.problems)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"cells": []}, "not a notebook (no 'nbformat' version)"),
        (
            {**_v4([]), "nbformat_minor": "5"},
            'nbformat_minor: "5" is not a whole number; write it without quotes, '
            'e.g. "nbformat_minor": 5',
        ),
        (
            {**_v4([]), "nbformat": 5},
            "notebook format 5 is not supported; save it with Jupyter 4 or later (nbformat 4)",
        ),
    ],
)
def test_version_problems(tmp_path: Path, data: dict[str, Any], message: str) -> None:
    path = _write(tmp_path / "nb.ipynb", data)
    with pytest.raises(NotebookError) as exc:
        read_notebook(path)
    assert str(exc.value) == f"{path}: {message}"
