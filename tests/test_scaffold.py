"""``nbflow init`` and ``nbflow new`` below the command line: what they create,
what they keep, and the names they refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbflow.errors import UsageError
from nbflow.manifest.load import load_manifest
from nbflow.manifest.notebooks import inspect_notebook
from nbflow.scaffold import init_project, new_step, new_workflow


def test_init_keeps_what_exists(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "nbflow.yaml").write_text("runs_dir: elsewhere\n")
    (root / ".gitignore").write_text("runs/*/.lock\n")

    created = init_project(root)

    assert created == [
        root / "workflows",
        root / ".nbflow/manifest.schema.json",
        root / ".gitignore",
    ]
    assert (root / "nbflow.yaml").read_text() == "runs_dir: elsewhere\n"
    assert (root / ".gitignore").read_text() == "runs/*/.lock\n.ipynb_checkpoints/\n"
    assert init_project(root) == []


def test_new_workflow_loads_and_its_notebook_has_a_parameters_cell(tmp_path: Path) -> None:
    created = new_workflow(tmp_path, "daily-sales")

    folder = tmp_path / "workflows" / "daily-sales"
    assert created == [folder / "workflow.yaml", folder / "main.ipynb"]
    workflow = load_manifest(folder / "workflow.yaml")
    assert [s.id for s in workflow.steps] == ["main"]
    assert [p.name for p in workflow.parameters] == ["run_date"]
    info = inspect_notebook(folder / "main.ipynb")
    assert (info.parameters, info.records, info.kernel) == (("run_date",), ("done",), "python3")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Daily", "invalid workflow name 'Daily': use lower-case letters, digits, - and _"),
        ("../x", "invalid workflow name '../x': use lower-case letters, digits, - and _"),
    ],
)
def test_new_workflow_refuses_bad_names(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(UsageError) as exc:
        new_workflow(tmp_path, name)
    assert str(exc.value) == message


def test_new_workflow_refuses_to_overwrite(tmp_path: Path) -> None:
    new_workflow(tmp_path, "wf")

    with pytest.raises(UsageError) as exc:
        new_workflow(tmp_path, "wf")

    manifest = tmp_path / "workflows" / "wf" / "workflow.yaml"
    assert str(exc.value) == f"{manifest} exists already; add a step with `nbflow new wf STEP`"


def test_new_step_keeps_the_manifest_layout_and_an_existing_notebook(tmp_path: Path) -> None:
    new_workflow(tmp_path, "wf")
    folder = tmp_path / "workflows" / "wf"
    manifest = folder / "workflow.yaml"
    manifest.write_text(
        manifest.read_text().replace("  dispatch: true\n", "  dispatch: true   # by hand\n")
    )
    (folder / "extra.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    before = manifest.read_text()

    created = new_step(tmp_path, "wf", "extra")

    assert created == [manifest]
    assert manifest.read_text() == before + "  - id: extra\n    notebook: extra.ipynb\n"
    assert json.loads((folder / "extra.ipynb").read_text())["cells"] == []
    with pytest.raises(UsageError) as exc:
        new_step(tmp_path, "wf", "bad id")
    assert str(exc.value) == "invalid step id 'bad id': use letters, digits, - and _ (at most 64)"


def test_new_writes_the_missing_notebook_of_a_listed_step(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What validate suggests for a missing notebook works: ``nbflow new WF STEP``
    writes the notebook the manifest names, and leaves the manifest alone."""
    from nbflow.cli import main

    new_workflow(project, "wf", "summarize")
    folder = project.resolve() / "workflows" / "wf"
    manifest = folder / "workflow.yaml"
    manifest.write_text(manifest.read_text().replace("summarize.ipynb", "sub/summary.ipynb"))
    (folder / "summarize.ipynb").unlink()
    before = manifest.read_text()
    assert main(["validate", "wf"]) == 2
    assert capsys.readouterr().out == (
        f"{manifest}:10:15: steps[0] (summarize).notebook: notebook 'sub/summary.ipynb' not "
        f"found in {folder / 'sub'}; create it with `nbflow new wf summarize`\n"
    )

    assert main(["new", "wf", "summarize"]) == 0

    assert capsys.readouterr().out == f"{folder / 'sub' / 'summary.ipynb'}\n"
    assert manifest.read_text() == before
    assert main(["validate", "wf"]) == 0
    assert main(["new", "wf", "summarize"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {manifest}: step 'summarize' exists already, and so does "
        f"{folder / 'sub' / 'summary.ipynb'}"
    )


def test_scaffolded_notebook_shows_its_record_once(project: Path) -> None:
    """The scaffold's last line is ``nbflow.record("done", True)``: its output is the
    recorded value's display, with no ``Out[]`` echoing the value again."""
    from helpers import cell_outputs, latest_run

    from nbflow.cli import main

    new_workflow(project, "wf")

    assert main(["run", "wf"]) == 0

    run_dir, _ = latest_run(project, "wf")
    shown = cell_outputs(run_dir / "main.ipynb", "import nbflow")
    assert [(o["output_type"], "".join(o["data"]["text/plain"])) for o in shown] == [
        ("display_data", "done = true")
    ]
