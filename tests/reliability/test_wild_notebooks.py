"""Notebooks nbflow did not write: kernelspecs Jupyter accepts (``python``,
``Python3``), papermill's and Ploomber's leftovers, files without cell ids,
nbformat 3, malformed files, and failures IPython reports only on stderr.

Every notebook is built here, in the shape the tool that saved it leaves it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nbflow.cli import main
from tests.helpers import latest_run, write_manifest

Cell = dict[str, Any]


def cell(source: str, *, tags: tuple[str, ...] = (), kind: str = "code") -> Cell:
    """A cell without an id, as nbformat 4.4 and earlier save it."""
    made: Cell = {"cell_type": kind, "metadata": {"tags": list(tags)} if tags else {}}
    made["source"] = source.splitlines(keepends=True)
    if kind == "code":
        made.update(execution_count=None, outputs=[])
    return made


def notebook(cells: list[Cell], *, kernel: str = "python3", minor: int = 4) -> dict[str, Any]:
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": kernel},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": minor,
    }


def workflow(root: Path, notebooks: dict[str, Any], steps: str = "") -> Path:
    """Workflow ``wild``: one step per notebook (``a.ipynb`` is step ``a``) unless
    ``steps`` lists them."""
    folder = root / "workflows" / "wild"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in notebooks.items():
        text = content if isinstance(content, str) else json.dumps(content, indent=1)
        (folder / name).write_text(text, encoding="utf-8")
    listed = steps or "".join(f"  - {{id: {Path(n).stem}, notebook: {n}}}\n" for n in notebooks)
    write_manifest(folder, f"name: wild\nsteps:\n{listed}")
    return folder


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# -- kernels ---------------------------------------------------------------------------------


def test_kernelspecs_python_and_Python3_run_in_python3_and_the_record_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow(
        project,
        {
            "a.ipynb": notebook([cell("x = 1")], kernel="python"),
            "b.ipynb": notebook([cell("import sys\nprint(sys.version_info[0])")], kernel="Python3"),
        },
    )

    code, _, err = run_cli(["run", "wild"], capsys)

    assert code == 0, err
    folder, record = latest_run(project, "wild")
    assert [s.kernel for s in record.steps] == ["python3", "python3"]
    saved = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert [s["kernel"] for s in saved["steps"]] == ["python3", "python3"]


# -- failure reasons -------------------------------------------------------------------------


def test_an_unknown_line_magic_reports_the_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow(project, {"a.ipynb": notebook([cell("x = 1"), cell("%notamagic 1")])})

    code, _, err = run_cli(["run", "wild"], capsys)

    assert code == 1
    message = "cell 1: UsageError: Line magic function `%notamagic` not found."
    assert "✗ a failed" in err and err.count(message) == 1, err
    folder, record = latest_run(project, "wild")
    step = record.step("a")
    assert step.error is not None
    assert step.error.summary == message
    report = (folder / "README.md").read_text(encoding="utf-8")
    assert (
        "`UsageError` at cell index 1 · after 1 attempt · notebook [`a.ipynb`](a.ipynb)\n\n"
        "```text\nLine magic function `%notamagic` not found.\n```"
    ) in report
