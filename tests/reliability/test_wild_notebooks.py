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
from tests.helpers import injected_parameters, latest_run, write_manifest

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


# -- papermill and Ploomber leftovers --------------------------------------------------------

ERROR_MARKER = cell(
    '<span style="color:red;">An Exception was encountered at \'<a href="#papermill-error-cell">'
    "In [4]</a>'.</span>",
    tags=("papermill-error-cell-tag",),
    kind="markdown",
)
STALE = cell('# Parameters\npath = "/Users/alice/data.csv"\n', tags=("injected-parameters",))


def leftovers(parameters: str = 'path = "data.csv"') -> dict[str, Any]:
    """A notebook papermill ran and Ploomber saved: an error marker first, a stale
    injected-parameters cell, and a failing cell at index 5."""
    return notebook(
        [
            ERROR_MARKER,
            cell(parameters, tags=("parameters",)),
            STALE,
            cell("print(path)"),
            cell("# Fails below", kind="markdown"),
            cell("raise ValueError(path)"),
        ]
    )


def test_the_failing_cell_is_its_index_in_the_notebook_with_papermill_leftovers(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow(
        project,
        {"a.ipynb": leftovers(), "b.ipynb": leftovers()},
        "  - {id: a, notebook: a.ipynb, needs: []}\n"
        "  - {id: b, notebook: b.ipynb, needs: [], parameters: {path: given.csv}}\n",
    )

    code, _, err = run_cli(["run", "wild"], capsys)

    assert code == 1
    assert "✗ a failed" in err and "— cell 5: ValueError: data.csv\n" in err, err
    assert "✗ b failed" in err and "— cell 5: ValueError: given.csv\n" in err, err
    folder, record = latest_run(project, "wild")
    assert [(s.error.cell, s.error.evalue) for s in record.steps if s.error] == [
        (5, "data.csv"),
        (5, "given.csv"),
    ]
    report = (folder / "README.md").read_text(encoding="utf-8")
    assert report.count("`ValueError` at cell index 5 · after 1 attempt") == 2
    injected = [injected_parameters(folder / f"{step}.ipynb") for step in ("a", "b")]
    assert injected == ["# Parameters\n", '# Parameters\npath = "given.csv"\n']


def test_a_stale_injected_parameters_cell_is_warned_about_and_replaced_in_a_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = workflow(
        project,
        {
            "a.ipynb": notebook(
                [cell("path = 'data.csv'", tags=("parameters",)), STALE, cell("print(path)")]
            )
        },
    )

    code, out, err = run_cli(["validate", "wild"], capsys)

    assert (code, out) == (0, "")
    assert err.splitlines() == [
        f"warning: {folder / 'workflow.yaml'}:3:23: steps[0] (a).notebook: notebook "
        "'a.ipynb' keeps an injected-parameters cell left by papermill or Ploomber "
        '(cell 1: path = "/Users/alice/data.csv"); take it out with '
        "`nbflow inject --remove wild` or delete that cell from the notebook: "
        "a run replaces it with the step's parameters",
        f"ok {folder / 'workflow.yaml'} (1 steps)",
    ]
    code, _, err = run_cli(["run", "wild"], capsys)
    assert code == 0, err
    run_folder, _ = latest_run(project, "wild")
    cells = json.loads((run_folder / "a.ipynb").read_text(encoding="utf-8"))["cells"]
    assert cells[1]["metadata"]["tags"] == ["injected-parameters"]
    assert "".join(cells[1]["source"]) == "# Parameters\n"  # the step got no parameters
    assert cells[2]["outputs"][0]["text"] == ["data.csv\n"]


# -- cell ids --------------------------------------------------------------------------------


def test_notebooks_without_cell_ids_give_byte_identical_executed_notebooks(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cells = [cell("x = 1", tags=("parameters",)), cell("print(x)"), cell("# Done", kind="markdown")]
    partial = notebook(cells, minor=5)  # 4.5, ids left out, and no language_info either
    del partial["metadata"]["language_info"]
    workflow(
        project,
        {"old.ipynb": notebook(cells, minor=4), "partial.ipynb": partial},
        "  - {id: old, notebook: old.ipynb, needs: []}\n"
        "  - {id: partial, notebook: partial.ipynb, needs: [], parameters: {x: 2}}\n",
    )

    runs = []
    for _ in range(2):
        code, _, err = run_cli(["run", "wild"], capfd)  # what any library prints, too
        assert code == 0, err
        assert "Warning" not in err and "invalid" not in err  # nbformat had nothing to fix
        runs.append(latest_run(project, "wild")[0])

    first, second = runs
    assert first != second
    for name in ("old.ipynb", "partial.ipynb"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
        executed = json.loads((first / name).read_text(encoding="utf-8"))
        assert executed["nbformat_minor"] == 5
        ids = [c["id"] for c in executed["cells"]]
        assert all(ids) and len(set(ids)) == len(ids)
    old = json.loads((first / "old.ipynb").read_text(encoding="utf-8"))
    assert old["cells"][1]["outputs"][0]["text"] == ["1\n"]


# -- nbformat 3 ------------------------------------------------------------------------------


def v3_cell(source: str, tags: tuple[str, ...] = ()) -> Cell:
    return {
        "cell_type": "code",
        "collapsed": False,
        "input": source,
        "language": "python",
        "metadata": {"tags": list(tags)},
        "outputs": [],
    }


def test_an_nbformat_3_notebook_is_upgraded_in_memory_and_the_report_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v3 = {
        "metadata": {"name": ""},
        "nbformat": 3,
        "nbformat_minor": 0,
        "worksheets": [
            {
                "cells": [v3_cell("x = 1", ("parameters",)), v3_cell("print(x + 1)")],
                "metadata": {},
            }
        ],
    }
    folder = workflow(
        project, {"a.ipynb": v3}, "  - {id: a, notebook: a.ipynb, parameters: {x: 41}}\n"
    )
    before = (folder / "a.ipynb").read_bytes()

    assert run_cli(["validate", "wild"], capsys)[0] == 0
    code, _, err = run_cli(["run", "wild"], capsys)

    assert code == 0, err
    assert "invalid" not in err
    run_folder, record = latest_run(project, "wild")
    assert record.step("a").upgraded_from == "3.0"
    executed = json.loads((run_folder / "a.ipynb").read_text(encoding="utf-8"))
    assert (executed["nbformat"], executed["nbformat_minor"]) == (4, 5)
    assert executed["cells"][2]["outputs"][0]["text"] == ["42\n"]
    report = (run_folder / "README.md").read_text(encoding="utf-8")
    assert (
        "## Notebooks upgraded\n\n- `a`: notebook `a.ipynb` is nbformat 3.0; nbflow upgraded "
        "it in memory with nbformat's converter to run it (save it in Jupyter to upgrade the "
        "file)\n"
    ) in report
    assert (folder / "a.ipynb").read_bytes() == before  # the file is left as it is


def v3_notebook(*sources: str) -> dict[str, Any]:
    cells = [v3_cell("x = 1", ("parameters",))] + [v3_cell(source) for source in sources]
    worksheet = {"cells": cells, "metadata": {}}
    return {"metadata": {"name": ""}, "nbformat": 3, "nbformat_minor": 0, "worksheets": [worksheet]}


def test_an_edited_nbformat_3_notebook_is_run_again_not_answered_from_the_cache(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its cells live under ``worksheets``: the fingerprint must count them (it
    digested no cells at all, so an edit was answered by the stale result)."""
    code = "import nbflow\nnbflow.record('y', x + {})"
    folder = workflow(project, {"a.ipynb": v3_notebook(code.format(1))})
    write_manifest(
        folder, "name: wild\ndefaults: {cache: true}\nsteps:\n  - {id: a, notebook: a.ipynb}\n"
    )
    assert run_cli(["run", "wild"], capsys)[0] == 0
    assert run_cli(["run", "wild"], capsys)[0] == 0
    assert latest_run(project, "wild")[1].step("a").status.value == "cached"

    (folder / "a.ipynb").write_text(json.dumps(v3_notebook(code.format(2))), encoding="utf-8")
    assert run_cli(["run", "wild"], capsys)[0] == 0

    step = latest_run(project, "wild")[1].step("a")
    assert (step.status.value, step.outputs) == ("succeeded", {"y": 3})


# -- malformed notebooks ---------------------------------------------------------------------


def _malformed(change: str) -> dict[str, Any] | str:
    nb = notebook([cell("x = 1", tags=("parameters",)), cell("print(x)")], minor=5)
    if change == "no source":
        del nb["cells"][1]["source"]
    elif change == "null cell":
        nb["cells"] = [None]
    elif change == "no metadata":
        del nb["metadata"]
    elif change == "source 5":
        nb["cells"][1]["source"] = 5
    elif change == "null kernelspec":
        nb["metadata"]["kernelspec"] = None
    elif change == "nested":
        return "[" * 200_000
    elif change == "nbformat string":
        nb["nbformat"] = "4"
    return nb


MALFORMED = {
    "no source": 'cells[1].source: missing; give the cell its text: "source": "" '
    "(a string or a list of strings)",
    "null cell": "cells[0]: null is not a cell; remove it from the 'cells' list",
    "no metadata": 'metadata: missing; add "metadata": {}',
    "source 5": 'cells[1].source: 5 is not a string or a list; give the cell its text: "source": '
    '"" (a string or a list of strings)',
    "null kernelspec": 'metadata.kernelspec: null is not an object; remove "kernelspec", or '
    'write {"name": "python3", "display_name": "Python 3"}',
    "nested": "invalid notebook JSON: lists or objects nested too deeply to read; "
    "a notebook is a JSON object holding a list of cells",
    "nbformat string": 'nbformat: "4" is not a whole number; write it without quotes, e.g. '
    '"nbformat": 4',
}


@pytest.mark.parametrize("change, problem", MALFORMED.items(), ids=MALFORMED.keys())
def test_a_malformed_notebook_is_refused_by_validate_and_before_a_run(
    project: Path, capsys: pytest.CaptureFixture[str], change: str, problem: str
) -> None:
    folder = workflow(project, {"a.ipynb": _malformed(change)})
    expected = (
        f"{folder / 'workflow.yaml'}:3:23: steps[0] (a).notebook: invalid notebook: "
        f"{folder / 'a.ipynb'}: {problem}"
    )

    code, out, err = run_cli(["validate", "wild"], capsys)
    assert (code, out.splitlines(), err) == (2, [expected], "1 problem(s) found\n")

    code, out, err = run_cli(["run", "wild"], capsys)
    assert (code, out, err.splitlines()) == (2, "", [expected])
    assert not (project / "runs").exists()  # refused before any kernel or run folder


# -- the parameters cell ---------------------------------------------------------------------


def test_a_syntax_error_in_the_parameters_cell_is_reported_with_its_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = workflow(
        project,
        {"a.ipynb": notebook([cell("x = 1\ny = (\n", tags=("parameters",)), cell("print(x)")])},
        "  - id: a\n    notebook: a.ipynb\n    parameters: {x: 3}\n",
    )

    code, out, _ = run_cli(["validate", "wild"], capsys)

    assert code == 2
    assert out.splitlines() == [
        f"{folder / 'workflow.yaml'}:5:5: steps[0] (a).parameters: the parameters cell of "
        "'a.ipynb' has a syntax error: cell 0, line 2 (y = (): '(' was never closed; "
        'correct that line in the cell tagged "parameters"'
    ]
