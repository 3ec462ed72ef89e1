"""``nbflow inject``: a step's real values in its own notebook (issue 15, item 1)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import papermill
import pytest
from helpers import (
    chain_workflow,
    code_cell,
    commit_all,
    git,
    injected_parameters,
)

from nbflow.cli import main
from nbflow.engine.outputs import read_outputs
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.load import load_manifest


def _cells(path: Path) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return cells


def test_inject_run_by_hand_with_papermill_then_remove_leaves_git_diff_clean(
    project_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = chain_workflow(project_repo / "workflows" / "chain")
    commit_all(project_repo, "workflow")
    notebook = manifest.parent / "b.ipynb"
    before = notebook.read_bytes()
    run_workflow(load_manifest(manifest), RunOptions(jobs=1))
    capsys.readouterr()

    assert main(["inject", "chain", "b"]) == 0

    out, err = capsys.readouterr()
    assert out == f"{notebook}\n"
    assert err == (
        "b: injected count, run_id\nremove it before committing: nbflow inject --remove chain b\n"
    )
    injected = re.fullmatch(
        r'# Parameters\ncount = 6\nrun_id = "(\d{4}-\d\d-\d\dT\d{6}Z-[0-9a-f]{4})"\n',
        injected_parameters(notebook),
    )
    assert injected, injected_parameters(notebook)
    tags = [c["metadata"].get("tags") for c in _cells(notebook)]
    assert tags == [["parameters"], ["injected-parameters"], []]
    executed = tmp_path / "by-hand.ipynb"
    papermill.execute_notebook(
        str(notebook), str(executed), cwd=str(manifest.parent), progress_bar=False
    )
    assert read_outputs(json.loads(executed.read_text(encoding="utf-8"))) == {
        "count_type": "int",
        "count": 7,
        "run_id": injected[1],
    }

    assert main(["inject", "--remove", "chain"]) == 0

    assert capsys.readouterr().out == f"{notebook}\n"
    assert notebook.read_bytes() == before
    assert git(project_repo, "status", "--porcelain", "--", "workflows") == ""


def test_inject_without_an_upstream_result_names_the_step_and_the_fix(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = chain_workflow(project / "workflows" / "chain")
    before = (manifest.parent / "b.ipynb").read_bytes()

    assert main(["inject", "chain", "b"]) == 2

    assert capsys.readouterr().err == (
        "error: step 'b' needs the outputs of 'a', and no earlier run has a result of it; "
        "run `nbflow run chain --steps a` first, or pick a run with --run\n"
    )
    assert (manifest.parent / "b.ipynb").read_bytes() == before


def test_inject_refuses_a_stale_upstream_result_and_takes_one_from_the_run_given(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = chain_workflow(project / "workflows" / "chain")
    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1, parameters={"limit": 5}))
    capsys.readouterr()

    assert main(["inject", "chain", "b"]) == 2
    assert capsys.readouterr().err == (
        "error: step 'b' needs the outputs of 'a', and its last result was for n=5 "
        f"(run {record.run_id}); run `nbflow run chain --steps a` first, "
        "or pick a run with --run\n"
    )

    assert main(["inject", "chain", "b", "--run", record.run_id]) == 0
    assert main(["inject", "chain", "c", "--run", record.run_id]) == 0
    assert injected_parameters(manifest.parent / "b.ipynb") == (
        f'# Parameters\ncount = 10\nrun_id = "{record.run_id}"\n'
    )
    assert injected_parameters(manifest.parent / "c.ipynb") == (
        f'# Parameters\nlabel = "hello"\ngreeting = "hello on {record.start[:10]}"\n'
    )


def test_inject_keeps_the_layout_of_an_nbformat_4_4_notebook_and_replaces_its_old_cell(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = chain_workflow(project / "workflows" / "chain")
    notebook = manifest.parent / "a.ipynb"
    cells = [
        code_cell("n = 1", ["parameters"]),
        code_cell("import nbflow\nnbflow.record('total', n * 2)"),
    ]
    for cell in cells:
        del cell["id"]
        cell["source"] = cell["source"].splitlines(keepends=True)
    data = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "name": "python3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    notebook.write_text(json.dumps(data, indent=2, ensure_ascii=True), encoding="utf-8")
    before = notebook.read_bytes()

    assert main(["inject", "chain", "a"]) == 0
    assert main(["inject", "chain", "a"]) == 0  # again: the cell is replaced, not added

    injected = _cells(notebook)[1]
    assert injected == {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": ["injected-parameters"]},
        "outputs": [],
        "source": ["# Parameters\n", "n = 3\n"],
    }
    assert len(_cells(notebook)) == 3
    assert notebook.read_text(encoding="utf-8").startswith('{\n  "cells": [\n')
    assert main(["inject", "--remove", "chain", "a"]) == 0
    assert notebook.read_bytes() == before


def test_inject_remove_without_injected_cells_changes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = chain_workflow(project / "workflows" / "chain")
    before = (manifest.parent / "a.ipynb").stat().st_mtime_ns

    assert main(["inject", "--remove", "chain"]) == 0

    assert capsys.readouterr().out == ""
    assert (manifest.parent / "a.ipynb").stat().st_mtime_ns == before


def test_inject_of_an_unknown_step_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain_workflow(project / "workflows" / "chain")

    assert main(["inject", "chain", "d"]) == 2

    assert capsys.readouterr().err == "error: chain: unknown step 'd'; steps are: a, b, c\n"


def test_inject_masks_a_secret_value_as_an_executed_notebook_does(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = chain_workflow(project / "workflows" / "chain")
    monkeypatch.setenv("GITHUB_TOKEN", "1357")
    (manifest.parent / "workflow.yaml").write_text(
        manifest.read_text(encoding="utf-8").replace("default: 3", "default: 913579"),
        encoding="utf-8",
    )

    assert main(["inject", "chain", "a"]) == 0

    assert "913579" not in (manifest.parent / "a.ipynb").read_text(encoding="utf-8")
    assert injected_parameters(manifest.parent / "a.ipynb") == '# Parameters\nn = "9***9"\n'
