"""The run lock of a workflow: inside the Git directory, never in the work tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import git, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.engine.locks import workflow_lock
from nbflow.errors import RunLockedError


def refused(runs_dir: Path, workflow: str) -> str:
    with pytest.raises(RunLockedError) as exc, workflow_lock(runs_dir, workflow):
        pass
    return str(exc.value)


def test_a_run_leaves_no_lock_for_git_add_to_commit(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = git_repo / "workflows" / "demo"
    write_notebook(workflow / "a.ipynb", None, ["1"])
    write_manifest(workflow, "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "add demo")
    monkeypatch.chdir(git_repo)

    with workflow_lock(git_repo / "runs", "other"):
        assert main(["run", "demo", "--commit"]) == 0
        git(git_repo, "add", "-A")
        staged = git(git_repo, "status", "--porcelain")

    assert staged == ""  # the run is committed; no lock file of either workflow is left
    locks = git_repo / ".git" / "nbflow" / "locks" / "runs"
    assert sorted(p.name for p in locks.iterdir()) == ["demo.lock", "other.lock"]


def test_each_worktree_has_its_own_lock(git_repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(git_repo, "worktree", "add", "-q", str(linked))

    with workflow_lock(git_repo / "runs", "demo"), workflow_lock(linked / "runs", "demo"):
        message = refused(linked / "runs", "demo")
        git(linked, "add", "-A")
        assert git(linked, "status", "--porcelain") == ""

    assert message == (
        f"demo: another run of this workflow is in progress (pid {os.getpid()}); "
        "wait for it to finish, or stop it, then run again"
    )
    assert (git_repo / ".git" / "worktrees" / "linked" / "nbflow" / "locks" / "runs").is_dir()
    assert not (linked / "runs").exists()


def test_outside_git_the_lock_is_in_the_runs_folder(tmp_path: Path) -> None:
    runs = tmp_path / "plain" / "runs"

    with workflow_lock(runs, "demo"):
        message = refused(runs, "demo")
        assert (runs / "demo" / ".lock").read_text() == str(os.getpid())

    assert message.startswith("demo: another run of this workflow is in progress (pid ")
