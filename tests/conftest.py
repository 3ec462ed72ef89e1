"""Shared fixtures. Every test is isolated from the user's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME and GIT_CONFIG_GLOBAL point into tmp_path: no test reads your config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An nbflow project at ``tmp_path/proj`` (``nbflow.yaml``, ``workflows/``), made the
    current folder. Workflows go in ``project / "workflows" / NAME``."""
    root = tmp_path / "proj"
    (root / "workflows").mkdir(parents=True)
    (root / "nbflow.yaml").write_text("runs_dir: runs\n", encoding="utf-8")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def git_repo(project: Path) -> Path:
    """``project`` made a Git repository (user set, no signing) with nothing committed."""
    from helpers import git

    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.name", "Test")
    git(project, "config", "user.email", "test@example.com")
    git(project, "config", "commit.gpgsign", "false")
    return project
