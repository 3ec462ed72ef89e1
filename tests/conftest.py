"""Shared fixtures. Every test is isolated from the user's configuration."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from github_stub import GitHubStub
from helpers import Receiver, serve_receiver

_CHDIRS: list[tuple[int, str, str]] = []  # the test's os.chdir calls: thread, its name, folder


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "os.chdir":
        thread = threading.current_thread()
        _CHDIRS.append((thread.ident or 0, thread.name, os.fspath(args[0])))


sys.addaudithook(_audit)  # permanent; pytest_runtest_setup clears the list per test
_START = pytest.StashKey[tuple[str, int]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    item.stash[_START] = (os.getcwd(), threading.get_ident())
    _CHDIRS.clear()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Fail (as an error at teardown) the test that changed the process's current
    folder behind its own back: a thread calling ``os.chdir`` (every thread shares the
    folder, so the test's relative paths and a later ``main([...])`` would land
    elsewhere), or a folder left changed once its fixtures are torn down (use
    ``monkeypatch.chdir``: it is undone after the test)."""
    result = yield  # the fixtures are torn down: monkeypatch has restored the folder
    before, test_thread = item.stash[_START]
    after = os.getcwd()
    if after != before:
        os.chdir(before)  # the next test starts where this one did
    problems = []
    if others := [f"{name}: {path}" for ident, name, path in _CHDIRS if ident != test_thread]:
        problems.append(f"threads changed the current folder: {others}")
    if after != before:
        problems.append(f"left the current folder changed: {before} -> {after}")
    if problems:
        pytest.fail(f"{item.nodeid}: {'; '.join(problems)}", pytrace=False)
    return result


@pytest.fixture
def chdirs() -> Callable[[], list[str]]:
    """``chdirs()``: the folders ``os.chdir`` was called with, on any thread, since the
    fixture was set up."""
    _CHDIRS.clear()
    return lambda: [path for _, _, path in _CHDIRS]


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
