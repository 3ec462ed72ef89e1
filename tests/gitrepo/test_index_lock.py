"""A run committed on the current branch: the branch and the index change together,
and commits landing at the same moment all land (real git, real processes)."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import configure_git
from helpers import git, write_run

from nbflow.errors import StoreError
from nbflow.git import index_lock
from nbflow.git.commands import Git
from nbflow.git.index_lock import IndexLock
from nbflow.git.repo import commit_run
from nbflow.project import Project

RUN_1 = "2026-11-23T000000Z-ab12"
RUN_2 = "2026-11-23T000100Z-cd34"


def install_hook(repo: Path, script: str) -> None:
    hook = repo / ".git" / "hooks" / "reference-transaction"
    hook.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    hook.chmod(0o755)


def test_a_git_process_cannot_take_the_index_while_the_branch_moves(git_repo: Path) -> None:
    # An IDE's background `git status` takes index.lock just as the branch moves: it
    # must find the index locked, not leave the run staged as deleted.
    install_hook(
        git_repo,
        'if [ "$1" = committed ]; then\n'
        "  if (set -C; : > .git/index.lock) 2>/dev/null; then echo took >> ide.log\n"
        "  else echo locked >> ide.log; fi\n"
        "fi\n",
    )
    folder, record = write_run(git_repo, RUN_1)

    result = commit_run(Project(git_repo), folder, record, target="current", push=False)

    assert (git_repo / "ide.log").read_text() == "locked\n"
    assert git(git_repo, "rev-parse", "HEAD") == result.sha
    assert git(git_repo, "status", "--porcelain") == "?? ide.log"
    assert not (git_repo / ".git" / "index.lock").exists()


def test_a_failed_branch_update_leaves_branch_and_index_as_they_were(git_repo: Path) -> None:
    install_hook(git_repo, '[ "$1" = prepared ] && exit 1\nexit 0\n')
    head = git(git_repo, "rev-parse", "HEAD")
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target="current", push=False)

    assert str(exc.value) == (
        "cannot commit the run: git refused to move refs/heads/main: fatal: ref updates "
        f"aborted by hook; nothing was committed; commit the run with `nbflow commit {RUN_1}`"
    )
    assert git(git_repo, "rev-parse", "HEAD") == head
    assert git(git_repo, "status", "--porcelain") == "?? runs/"
    assert not (git_repo / ".git" / "index.lock").exists()


def test_a_held_index_lock_is_waited_for_a_bounded_time(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_lock, "LOCK_WAIT", 5.0)
    lock = git_repo / ".git" / "index.lock"
    lock.write_text("")
    release = threading.Timer(0.5, lock.unlink)
    folder, record = write_run(git_repo, RUN_1)

    release.start()
    result = commit_run(Project(git_repo), folder, record, target="current", push=False)
    release.join()
    monkeypatch.setattr(index_lock, "LOCK_WAIT", 0.3)
    lock.write_text("")
    folder2, record2 = write_run(git_repo, RUN_2)
    started = time.monotonic()
    with pytest.raises(StoreError, match=f"^cannot commit the run: {lock} exists, so another"):
        commit_run(Project(git_repo), folder2, record2, target="current", push=False)
    assert time.monotonic() - started >= 0.3  # the whole bound was waited for

    assert git(git_repo, "rev-parse", "HEAD") == result.sha  # taken once released
    assert git(git_repo, "status", "--porcelain") == "?? runs/demo/" + RUN_2 + "/"
    assert lock.read_text() == ""  # someone else's lock is left alone


def test_a_lock_that_cannot_be_filled_is_deleted(git_repo: Path) -> None:
    """Copying the index into the new lock file fails (here the index is a folder):
    the lock file nbflow created is deleted, not left to block every git command."""
    index = git_repo / ".git" / "index"
    index.unlink()
    index.mkdir()

    with pytest.raises(StoreError), IndexLock.hold(Git.open(git_repo), RUN_1):
        pass

    assert not (git_repo / ".git" / "index.lock").exists()


def test_a_lock_renamed_over_the_index_is_left_to_whoever_takes_it_next(git_repo: Path) -> None:
    """Once nbflow's lock file became the index, ``index.lock`` may be another git
    process's (taken in the next instant): leaving, nbflow does not delete it. The
    index it wrote is an ordinary file (0644 less the umask, as git's own)."""
    lock = git_repo / ".git" / "index.lock"
    umask = os.umask(0)
    os.umask(umask)

    with IndexLock.hold(Git.open(git_repo), RUN_1) as index:
        index.commit()
        lock.write_text("another git process\n")

    assert lock.read_text() == "another git process\n"
    assert stat.S_IMODE((git_repo / ".git" / "index").stat().st_mode) == 0o644 & ~umask


@pytest.mark.parametrize("target", ["current", "runs-branch"])
def test_a_branch_moved_while_the_run_is_committed_gets_the_run_on_its_new_tip(
    git_repo: Path, target: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another commit lands on the branch between nbflow reading it and moving it (here
    made by git, as another process would, just before nbflow writes its commit):
    moving the branch fails ("cannot lock ref"), and nbflow commits again on the new
    tip instead of failing — the deterministic case of the concurrent test below."""
    if target == "runs-branch":
        earlier, earlier_record = write_run(git_repo, RUN_2, workflow="other")
        commit_run(Project(git_repo), earlier, earlier_record, target=target, push=False)
    ref = "refs/heads/" + ("main" if target == "current" else "nbflow/runs")
    real_commit_tree = Git.commit_tree
    landed: list[str] = []

    def another_commit_lands_first(self: Git, *args: Any, **kwargs: Any) -> str:
        if not landed:  # the tree is unchanged, so the index stays right for `current`
            tip = git(git_repo, "rev-parse", ref)
            other = git(git_repo, "commit-tree", f"{tip}^{{tree}}", "-p", tip, "-m", "landed")
            git(git_repo, "update-ref", ref, other, tip)
            landed.append(other)
        return real_commit_tree(self, *args, **kwargs)

    monkeypatch.setattr(Git, "commit_tree", another_commit_lands_first)
    status = git(git_repo, "status", "--porcelain")
    folder, record = write_run(git_repo, RUN_1)

    with caplog.at_level(logging.INFO, logger="nbflow.git.repo"):
        result = commit_run(Project(git_repo), folder, record, target=target, push=False)

    assert git(git_repo, "rev-parse", ref) == result.sha
    assert git(git_repo, "rev-parse", f"{result.sha}^") == landed[0]
    assert git(git_repo, "log", "-1", "--format=%(trailers:key=Nbflow-Run,valueonly)", ref) == RUN_1
    assert f"{ref} moved while committing (attempt 1); committing again" in caplog.messages
    assert git(git_repo, "status", "--porcelain") == (status if target == "current" else "?? runs/")


@pytest.mark.parametrize("target", ["current", "runs-branch"])
def test_commits_of_different_workflows_at_once_all_land(git_repo: Path, target: str) -> None:
    run_ids = [f"2026-11-23T00000{i}Z-ab1{i}" for i in range(8)]
    for i, run_id in enumerate(run_ids):
        write_run(git_repo, run_id, workflow=f"wf{i}")

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nbflow", "commit", run_id, "--target", target],
            cwd=git_repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run_id in run_ids
    ]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]

    assert [code for code, _ in results] == [0] * 8, results
    assert all(err.startswith("committed: ") for _, err in results), results
    branch = "main" if target == "current" else "nbflow/runs"
    landed = git(git_repo, "log", "--format=%(trailers:key=Nbflow-Run,valueonly)", branch)
    assert sorted(line for line in landed.splitlines() if line) == run_ids
    assert git(git_repo, "status", "--porcelain") == ("" if target == "current" else "?? runs/")


def test_a_run_is_the_first_commit_of_a_repository_without_an_index(tmp_path: Path) -> None:
    repo = tmp_path / "new"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    configure_git(repo)
    folder, record = write_run(repo, RUN_1)
    assert not (repo / ".git" / "index").exists()

    result = commit_run(Project(repo), folder, record, target="current", push=False)

    assert git(repo, "rev-list", "HEAD") == result.sha
    assert git(repo, "status", "--porcelain") == ""
    assert sorted(p.name for p in (repo / ".git").iterdir() if "index" in p.name) == ["index"]
