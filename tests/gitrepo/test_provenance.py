"""What a run starts from: the input commit and the uncommitted changes to its inputs,
in run.json, the report, stderr and the run's commit; ``--require-clean`` refuses them.

Real Git repositories in tmp_path, real kernels through ``nbflow run``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import commit_all, git, latest_run, write_manifest, write_notebook

from nbflow.cli import main


def _demo(project: Path) -> str:
    """workflows/demo (one step reading ``data/*.csv``), committed; HEAD."""
    folder = project / "workflows" / "demo"
    write_notebook(folder / "hello.ipynb", "x = 1", ["print(x)"])
    write_manifest(
        folder,
        """
        name: demo
        steps:
          - {id: hello, notebook: hello.ipynb, inputs: ["data/${{ params.day }}.csv"]}
        parameters:
          day: {type: str, default: monday}
        """,
    )
    (folder / "data").mkdir()
    (folder / "data" / "monday.csv").write_text("a\n1\n", encoding="utf-8")
    (project / "elsewhere.txt").write_text("not an input\n", encoding="utf-8")
    (project / ".gitignore").write_text("runs/*/.lock\nscratch/\n", encoding="utf-8")
    return commit_all(project, "demo")


def _edit_inputs(project: Path) -> None:
    """An unstaged edit, a staged one, an untracked file in the workflow folder, an
    edited input; and changes that are no inputs (a file elsewhere, an ignored one)."""
    folder = project / "workflows" / "demo"
    write_notebook(folder / "hello.ipynb", "x = 2", ["print(x)"])
    (project / "nbflow.yaml").write_text("runs_dir: runs\n# edited\n", encoding="utf-8")
    git(project, "add", "nbflow.yaml")
    (folder / "notes.txt").write_text("draft\n", encoding="utf-8")
    (folder / "data" / "monday.csv").write_text("a\n2\n", encoding="utf-8")
    (project / "elsewhere.txt").write_text("changed, not an input\n", encoding="utf-8")
    (project / "scratch").mkdir()
    (project / "scratch" / "x.txt").write_text("ignored\n", encoding="utf-8")


CHANGED = [
    "nbflow.yaml",
    "workflows/demo/data/monday.csv",
    "workflows/demo/hello.ipynb",
    "workflows/demo/notes.txt",
]


def test_a_run_from_uncommitted_changes_records_warns_and_marks_its_commit(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = _demo(project_repo)
    _edit_inputs(project_repo)

    assert main(["run", "demo", "--commit"]) == 0

    run_dir, record = latest_run(project_repo, "demo")
    data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    at = list(data).index("commit")
    assert list(data)[at : at + 3] == ["commit", "dirty", "uncommitted"]
    assert (data["commit"], data["dirty"], data["uncommitted"]) == (head, True, CHANGED)
    assert record.uncommitted == tuple(CHANGED)
    summary = (run_dir / "README.md").read_text(encoding="utf-8").splitlines()[2]
    assert summary.endswith(
        f" · input commit `{head[:12]}` + uncommitted changes to: `nbflow.yaml`, "
        "`workflows/demo/data/monday.csv`, `workflows/demo/hello.ipynb`, "
        "`workflows/demo/notes.txt`"
    )
    assert (
        "demo: running from uncommitted changes to: nbflow.yaml, workflows/demo/data/monday.csv, "
        "workflows/demo/hello.ipynb, workflows/demo/notes.txt (recorded in the run as dirty)"
    ) in capsys.readouterr().err
    message = git(project_repo, "log", "-1", "--format=%B")
    assert message.splitlines()[-3] == "Nbflow-Trigger: manual"
    assert message.splitlines()[-1] == "Nbflow-Dirty: true"


def test_a_run_from_a_clean_tree_has_no_dirty_mark(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = _demo(project_repo)
    (project_repo / "elsewhere.txt").write_text("changed, not an input\n", encoding="utf-8")

    assert main(["run", "demo", "--commit", "--require-clean"]) == 0

    run_dir, record = latest_run(project_repo, "demo")
    data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert (data["commit"], "dirty" in data, "uncommitted" in data) == (head, False, False)
    assert record.uncommitted == ()
    assert "uncommitted" not in (run_dir / "README.md").read_text(encoding="utf-8")
    assert "uncommitted" not in capsys.readouterr().err
    assert "Nbflow-Dirty" not in git(project_repo, "log", "-1", "--format=%B")


@pytest.mark.parametrize("how", ["--require-clean", "nbflow.yaml"])
def test_require_clean_refuses_to_start_from_uncommitted_changes(
    project_repo: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    _demo(project_repo)
    _edit_inputs(project_repo)
    if how == "nbflow.yaml":
        (project_repo / "nbflow.yaml").write_text("require_clean: true\n", encoding="utf-8")

    assert main(["run", "demo", *([how] if how.startswith("--") else [])]) == 2

    assert capsys.readouterr().err == (
        "error: demo: refusing to run from uncommitted changes to: nbflow.yaml, "
        "workflows/demo/data/monday.csv, workflows/demo/hello.ipynb, "
        "workflows/demo/notes.txt; commit or stash "
        "them first (a clean tree is required by --require-clean or `require_clean: true` "
        "in nbflow.yaml)\n"
    )
    assert not (project_repo / "runs").exists()


def test_require_clean_in_nbflow_yaml_must_be_true_or_false(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _demo(project_repo)
    (project_repo / "nbflow.yaml").write_text("require_clean: yes please\n", encoding="utf-8")

    assert main(["run", "demo"]) == 2

    assert capsys.readouterr().err == (
        f"error: {project_repo / 'nbflow.yaml'}: require_clean: expected true or false, "
        "got 'yes please'\n"
    )


def test_a_workflow_at_the_top_counts_its_files_but_never_the_runs_folder(
    project_repo: Path,
) -> None:
    """The workflow folder is the work tree's top, the runs folder inside it: an edited
    notebook and a new file count; the untracked files of earlier runs never do."""
    from nbflow.git.provenance import input_tree
    from nbflow.manifest.load import load_manifest
    from nbflow.project import project_of_manifest

    write_notebook(project_repo / "hello.ipynb", "x = 1", ["print(x)"])
    manifest = write_manifest(project_repo, "name: top\nsteps:\n  - {id: a, notebook: hello.ipynb}")
    head = commit_all(project_repo, "top")
    for run in ("2026-01-01T000000Z-aaaa", "2026-01-02T000000Z-bbbb"):
        (project_repo / "runs" / "top" / run).mkdir(parents=True)
        (project_repo / "runs" / "top" / run / "run.json").write_text("{}\n", encoding="utf-8")
    write_notebook(project_repo / "hello.ipynb", "x = 2", ["print(x)"])
    (project_repo / "notes.txt").write_text("draft\n", encoding="utf-8")

    workflow = load_manifest(manifest)
    tree = input_tree(workflow, project_of_manifest(manifest))

    assert (tree.commit, tree.uncommitted) == (head, ("hello.ipynb", "notes.txt"))
