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
