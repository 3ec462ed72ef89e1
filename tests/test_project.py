"""Project settings in nbflow.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbflow.errors import ConfigError
from nbflow.project import CommitSettings, Project


def test_defaults_without_a_settings_file(tmp_path: Path) -> None:
    project = Project(tmp_path)

    assert project.config == {}
    assert project.commit == CommitSettings(
        target="current",
        runs_branch="nbflow/runs",
        warn_notebook_bytes=5_000_000,
        max_notebook_bytes=50_000_000,
    )


def test_commit_settings_are_read(tmp_path: Path) -> None:
    (tmp_path / "nbflow.yaml").write_text(
        "runs_dir: runs\ncommit:\n  target: runs-branch\n  runs_branch: data/runs\n"
        "  max_notebook_bytes: 1000\n  warn_notebook_bytes: 10\n"
    )
    project = Project(tmp_path)

    assert project.commit == CommitSettings("runs-branch", "data/runs", 10, 1000)
    assert project.commit_target() == "runs-branch"
    assert project.commit_target(workflow="pr") == "pr"
    assert project.commit_target("current", "pr") == "current"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("commit: [a\n", "invalid YAML: "),
        ("- a list\n", "expected a mapping of settings, got list"),
        ("commit: yes\n", "commit: expected a mapping, e.g. `commit: {target: current}`"),
        (
            "commit: {target: main}\n",
            "commit.target: 'main' is not one of current, runs-branch, pr",
        ),
        (
            "commit: {branch: x}\n",
            "commit.branch: unknown key; allowed: target, runs_branch, "
            "warn_notebook_bytes, max_notebook_bytes",
        ),
        (
            "commit: {max_notebook_bytes: 5MB}\n",
            "commit.max_notebook_bytes: expected a positive "
            "number of bytes, e.g. 50000000, got '5MB'",
        ),
    ],
)
def test_a_bad_settings_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "nbflow.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError) as exc:
        Project(tmp_path).commit  # noqa: B018

    assert str(exc.value).startswith(f"{path}: {message}")


def test_runs_dir_defaults_to_runs_and_is_read(tmp_path: Path) -> None:
    assert Project(tmp_path).runs_dir == tmp_path / "runs"
    (tmp_path / "nbflow.yaml").write_text("runs_dir: data/runs/\n")
    assert Project(tmp_path).runs_dir == tmp_path / "data" / "runs"


@pytest.mark.parametrize("value", ["/tmp/runs", "../runs", "''", "workflows/runs", "[a]"])
def test_runs_dir_outside_the_project_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "nbflow.yaml"
    path.write_text(f"runs_dir: {value}\n")

    with pytest.raises(ConfigError) as exc:
        _ = Project(tmp_path).runs_dir

    shown = {"''": "''", "[a]": "['a']"}.get(value, repr(value))
    assert str(exc.value) == (
        f"{path}: runs_dir: expected a folder inside the project other than workflows/, "
        f"such as runs, got {shown}"
    )


def test_runs_dir_is_honoured_by_run_runs_show_commit_and_ci(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``runs_dir: history`` (`nbflow init` writes `runs_dir: runs`): runs are written,
    listed, shown and committed there, and generated path filters leave it out."""
    from helpers import git, write_manifest, write_notebook
    from ruamel.yaml import YAML

    from nbflow.cli import main
    from nbflow.store.runs import iter_run_dirs

    (project_repo / "nbflow.yaml").write_text("runs_dir: history\n")
    folder = project_repo / "workflows" / "demo"
    write_notebook(folder / "only.ipynb", None, ["x = 1"])
    write_manifest(
        folder, "name: demo\non: {push: true}\nsteps:\n  - {id: only, notebook: only.ipynb}\n"
    )
    git(project_repo, "add", "-A")
    git(project_repo, "commit", "-q", "-m", "demo")

    assert main(["run", "demo", "--commit"]) == 0

    [run_dir] = iter_run_dirs(project_repo / "history", "demo")
    assert not (project_repo / "runs").exists()
    committed = git(project_repo, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert sorted(committed) == sorted(
        [f"history/demo/{run_dir.name}/{name}" for name in ("README.md", "only.ipynb", "run.json")]
        + ["history/demo/README.md", "history/demo/durations.svg"]  # the history page
        + ["history/demo/summaries.jsonl"]  # and its summary index
    )
    capsys.readouterr()
    assert main(["runs", "--branch", "main"]) == 0  # read from Git, under history/
    assert capsys.readouterr().out.splitlines()[1].startswith(f"{run_dir.name}  demo ")
    assert main(["show", run_dir.name, "--json"]) == 0
    assert f'"run_id": "{run_dir.name}"' in capsys.readouterr().out
    assert main(["ci", "generate"]) == 0
    generated = project_repo / ".github" / "workflows" / "nbflow-demo.yml"
    on = YAML(typ="safe").load(generated.read_text(encoding="utf-8"))["on"]
    assert on["push"]["paths"] == ["workflows/demo/**", "!history/**"]
