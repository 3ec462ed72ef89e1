"""Shared fixtures. Every test is isolated from the user's configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from github_stub import GitHubStub
from helpers import Receiver, serve_receiver


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
def git_repo(tmp_path: Path) -> Path:
    """A Git work tree in tmp_path (identity set, signing off, one commit on ``main``)
    whose ``origin`` is a bare repository in tmp_path it was pushed to."""
    from helpers import git

    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    configure_git(repo)
    (repo / "README.md").write_text("# demo\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial commit")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


def configure_git(repo: Path) -> None:
    """Identity and no signing, in the repository's own config."""
    from helpers import git

    git(repo, "config", "user.name", "Test User")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "commit.gpgsign", "false")


@pytest.fixture
def project_repo(project: Path) -> Path:
    """``project`` made a Git repository (user set, no signing) with nothing committed."""
    from helpers import git

    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.name", "Test")
    git(project, "config", "user.email", "test@example.com")
    git(project, "config", "commit.gpgsign", "false")
    return project


@pytest.fixture
def github_stub() -> Iterator[GitHubStub]:
    """A local stand-in for the GitHub API; point GitHubSettings.api_url at its url.
    Every reply a test scripts must be asked for."""
    stub = GitHubStub().start()
    yield stub
    stub.stop()
    assert stub.unused == [], "scripted replies never requested"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver (see helpers.Receiver)."""
    with serve_receiver() as state:
        yield state
