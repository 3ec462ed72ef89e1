"""inspect_notebook: parameters cell, recorded outputs, kernel, and unusable files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import code_cell, markdown_cell, write_notebook

from nbflow.errors import NbflowError
from nbflow.manifest.notebooks import NotebookError, NotebookInfo, inspect_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_parameters_records_and_kernel(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "run_date = '2024-01-01'\nlimit: int = 5\na, b = 1, 2\n%matplotlib inline\nprint(1)",
        [
            markdown_cell("record('not_code', 1)"),
            "import nbflow\nnbflow.record('rows', 3)\nrecord(\"files\", [])\n",
            "name = 'x'\nrecord(name, 1)\nnbflow.record('rows', 4)",
            "!ls\nthis is not python(",
        ],
        kernel="python3",
    )
    assert inspect_notebook(path) == NotebookInfo(
        parameters=("run_date", "limit", "a", "b"), records=("rows", "files"), kernel="python3"
    )


def test_a_record_call_spelled_with_compatibility_characters_is_found(tmp_path: Path) -> None:
    """Cells without the text ``record`` are not parsed; Python reads the name
    ``ｒｅｃｏｒｄ`` (fullwidth letters) as ``record``, so such a cell still is."""
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "x = 1",
        ["rows = 3", "\uff52\uff45\uff43\uff4f\uff52\uff44('rows', rows)", "y = (record('y', 2)"],
    )
    assert inspect_notebook(path).records == ("rows",)


def test_no_parameters_cell(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", None, [code_cell("x = 1", tags=["other"])])
    assert inspect_notebook(path).parameters is None


def test_empty_parameters_cell(tmp_path: Path) -> None:
    assert inspect_notebook(write_notebook(tmp_path / "nb.ipynb", "")).parameters == ()


def test_edited_notebook_is_read_again(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", "x = 1")
    assert inspect_notebook(path).parameters == ("x",)
    write_notebook(path, "x = 1\nyy = 2")
    assert inspect_notebook(path).parameters == ("x", "yy")


def test_shipped_test_notebook() -> None:
    info = inspect_notebook(NOTEBOOKS / "params_and_record.ipynb")
    assert info.parameters == ("x", "label")
    assert info.records == ("doubled",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"cells": [\n  1,,\n]}', "{path}:2:5: invalid notebook JSON: Expecting value"),
        ("[]", "{path}: not a notebook (the JSON is not an object)"),
        (
            json.dumps({"nbformat": 2, "worksheets": []}),
            "{path}: notebook format 2 is not supported; "
            "save it with Jupyter 4 or later (nbformat 4)",
        ),
        (json.dumps({"nbformat": 4, "metadata": {}}), "{path}: not a notebook (no 'cells' list)"),
    ],
)
def test_unusable_notebooks(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(content)
    with pytest.raises(NotebookError) as exc:
        inspect_notebook(path)
    assert str(exc.value) == message.format(path=path)
    assert isinstance(exc.value, NbflowError)


def test_missing_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as exc:
        inspect_notebook(tmp_path / "nope.ipynb")
    assert str(exc.value) == f"{tmp_path / 'nope.ipynb'}: notebook not found"
    path = tmp_path / "bad.ipynb"
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(NotebookError) as exc:
        inspect_notebook(path)
    assert str(exc.value) == f"{path}: not UTF-8 text (byte 7)"


def test_parameters_declare_their_types_by_annotation_else_default(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "import typing\nfrom datetime import date\n"
        'label = "x"\ncount = 3\nneg = -2\nmin_amount: float = 0\nflag = False\n'
        "items = [1]\npair = (1, 2)\nopts: typing.Dict[str, int] = {}\nmaybe: int | None = None\n"
        "also: Optional[list[str]] = None\na = b = 1.5\nday = date(2020, 1, 1)\n"
        "anything = None\nredone = 1\nredone = None\n%matplotlib inline",
    )

    types = {name: (d.type, d.text) for name, d in inspect_notebook(path).types.items()}

    assert types == {
        "label": ("str", 'label = "x"'),
        "count": ("int", "count = 3"),
        "neg": ("int", "neg = -2"),
        "min_amount": ("float", "min_amount: float = 0"),
        "flag": ("bool", "flag = False"),
        "items": ("list", "items = [1]"),
        "pair": ("list", "pair = (1, 2)"),
        "opts": ("dict", "opts: typing.Dict[str, int] = {}"),
        "maybe": ("int", "maybe: int | None = None"),
        "also": ("list", "also: Optional[list[str]] = None"),
        "a": ("float", "a = b = 1.5"),
        "b": ("float", "a = b = 1.5"),
    }
