"""``nbflow diff``: real runs of a real workflow, compared cell by cell."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import two_runs, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.store.runs import iter_run_dirs


def diff(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["diff", *args])
    return code, capsys.readouterr().out


def test_a_changed_parameter_names_the_cells_whose_outputs_changed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_runs(project, "2", "3")
    code, out = diff(capsys, "previous", "latest")
    ids = [c["id"] for c in json.loads((b / "fit.ipynb").read_text())["cells"]]
    png = re.findall(r"\[image/png, 80 bytes, [0-9a-f]{8}\]", out)
    assert code == 0
    assert out == (
        f"demo {a.name} → {b.name}: 1 notebook changed\n"
        "fit.ipynb (fit): 3 cells changed\n"
        "  parameters: values changed\n"
        "    - n = 2\n"
        "    + n = 3\n"
        f"  cell 2 (id {ids[2]}): outputs changed\n"
        "    - score 20\n"
        "    + score 30\n"
        f"  cell 4 (id {ids[4]}): outputs changed\n"
        f"    - {png[0]}\n"
        f"    + {png[1]}\n"
    )
    assert png[0] != png[1]  # the image is named by type, size and digest, not dumped
    assert "AgICAgIC" not in out  # base64 of bytes([2] * 60)


def test_the_same_parameters_change_nothing_and_exit_code_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_runs(project, "2", "2")
    assert diff(capsys, a.name, str(b), "--exit-code") == (
        0,
        f"demo {a.name} → {b.name}: no output changed in 2 notebooks\n",
    )
    assert diff(capsys, str(a), "latest", "fit") == (
        0,
        f"demo {a.name} → {b.name}: no output changed in 1 notebook\n",
    )


def test_a_notebook_the_same_in_both_runs_is_unchanged_even_with_repeated_cell_ids(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A notebook byte for byte the same in both runs (a cached step's is a copy) has
    not changed: not even two cells with one id (an edited run folder) pair up
    differently and read as changed."""
    a, b = two_runs(project, "2", "2")
    notebook = json.loads((a / "fit.ipynb").read_text())
    first = next(c for c in notebook["cells"] if c["cell_type"] == "code" and c["outputs"])
    repeat = {**first, "outputs": [{"output_type": "stream", "name": "stdout", "text": "x\n"}]}
    notebook["cells"].append(repeat)
    for run in (a, b):
        (run / "fit.ipynb").write_text(json.dumps(notebook), encoding="utf-8")

    assert diff(capsys, a.name, b.name) == (
        0,
        f"demo {a.name} → {b.name}: no output changed in 2 notebooks\n",
    )


def test_exit_code_is_1_when_an_output_changed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_runs(project, "2", "3")
    code, out = diff(capsys, "previous", "latest", "other", "--exit-code")
    assert (code, out.endswith("no output changed in 1 notebook\n")) == (0, True)
    code, out = diff(capsys, "previous", "latest", "fit", "--exit-code")
    assert (code, out.splitlines()[1]) == (1, "fit.ipynb (fit): 3 cells changed")


def test_bad_run_names_are_usage_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = two_runs(project, "2", "3")
    for args, message in [
        (
            ["previous", "previous"],
            "`previous` is the run before the other one: name the other run",
        ),
        ([a.name, "previous"], f"run {a.name} is the first run of demo: nothing before it"),
        (
            ["latest", str(project)],
            f"{project} is not a run folder (it has no run.json); "
            "give a run id, a run folder, latest or previous",
        ),
        (["latest", "previous", "nope"], "no step 'nope' with a notebook in run"),
    ]:
        assert main(["diff", *args]) == 2
        assert message in capsys.readouterr().err


def test_an_edited_cell_of_an_nbformat_4_4_notebook_is_the_same_cell(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 4.4 notebook has no cell ids; nbflow makes them from each cell's source, so an
    edited cell gets another id: it is paired by position, and reported changed."""
    folder = project / "workflows" / "old"
    write_manifest(folder, "name: old\nsteps:\n  - {id: old, notebook: old.ipynb}\n")
    for total in ("x", "x + 1"):  # the second run's cell is edited
        path = write_notebook(folder / "old.ipynb", "x = 1", [f"print('total', {total})"])
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            del cell["id"]
        path.write_text(json.dumps({**notebook, "nbformat_minor": 4}), encoding="utf-8")
        assert main(["run", "old"]) == 0

    code, out = diff(capsys, "previous", "latest")

    latest = list(iter_run_dirs(project / "runs", "old"))[-1]
    edited = json.loads((latest / "old.ipynb").read_text())["cells"][1]["id"]
    assert code == 0
    assert out.splitlines()[1:] == [
        "old.ipynb (old): 1 cell changed",
        f"  cell 1 (id {edited}): outputs changed",
        "    - total 1",
        "    + total 2",
    ]
