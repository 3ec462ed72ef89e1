"""After a rejected push: the run replayed on the remote's new tip, and the checked-out
branch following it, or staying where it is when it cannot (docs/git.md, pushing)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import configure_git
from helpers import git, write_run

from nbflow.errors import StoreError
from nbflow.git import index_lock
from nbflow.git.commands import Git
from nbflow.git.repo import commit_run
from nbflow.project import Project

RUN_1 = "2026-11-23T000000Z-ab12"
RUN_2 = "2026-11-23T000100Z-cd34"
RUN_3 = "2026-11-23T000200Z-ef56"


def clone(origin: Path, path: Path) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(path))
    configure_git(path)
    return path


def stays_warning(landed: str, local: str) -> str:
    return (
        f"the run landed on the remote as {landed[:12]}, but this branch stays at "
        f"{local[:12]} (local changes are in the way, or the branch or its index is in use); "
        "run `git pull --rebase` when convenient"
    )


def test_local_files_in_the_way_leave_the_branch_and_the_files_where_they_were(
    git_repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The replayed run lands on the remote, but following it would overwrite a file of
    the user's (here an untracked file where the other clone's run has one): branch,
    index and files stay, with a warning."""
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    folder1, record1 = write_run(git_repo, RUN_1)
    commit_run(Project(git_repo), folder1, record1, target="current", push=True)
    mine = other / "runs" / "demo" / RUN_1 / "run.json"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine\n")
    folder2, record2 = write_run(other, RUN_2)

    with caplog.at_level(logging.WARNING, logger="nbflow.git.repo"):
        result = commit_run(Project(other), folder2, record2, target="current", push=True)

    local = git(other, "rev-parse", "main")
    assert git(git_repo.parent / "origin.git", "rev-parse", "main") == result.sha != local
    assert git(other, "log", "-1", "--format=%(trailers:key=Nbflow-Run,valueonly)") == RUN_2
    assert caplog.messages == [stays_warning(result.sha, local)]
    assert mine.read_text() == "mine\n"
    assert git(other, "status", "--porcelain") == "?? runs/demo/2026-11-23T000000Z-ab12/"
    assert not (other / ".git" / "index.lock").exists()


def test_a_branch_moved_after_the_push_stays_where_it_was_moved(
    git_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The checked-out branch moved (another commit of the user's) while the replayed run
    was pushed: nbflow leaves it there, with a warning, rather than moving it back."""
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    folder1, record1 = write_run(git_repo, RUN_1)
    commit_run(Project(git_repo), folder1, record1, target="current", push=True)
    folder2, record2 = write_run(other, RUN_2)
    real_fetch, fetches, moved = Git.fetch, [], []

    def the_user_commits_after_the_rejection(self: Git, *args: Any, **kwargs: Any) -> Any:
        fetches.append(args)
        if len(fetches) == 2:  # the fetch after the rejected push
            tip = git(other, "rev-parse", "main")
            moved.append(git(other, "commit-tree", f"{tip}^{{tree}}", "-p", tip, "-m", "mine"))
            git(other, "update-ref", "refs/heads/main", moved[0], tip)
        return real_fetch(self, *args, **kwargs)

    monkeypatch.setattr(Git, "fetch", the_user_commits_after_the_rejection)

    with caplog.at_level(logging.WARNING, logger="nbflow.git.repo"):
        result = commit_run(Project(other), folder2, record2, target="current", push=True)

    assert git(git_repo.parent / "origin.git", "rev-parse", "main") == result.sha
    assert git(other, "rev-parse", "main") == moved[0]
    assert caplog.messages == [stays_warning(result.sha, moved[0])]
    assert not (other / ".git" / "index.lock").exists()


def test_an_index_another_process_holds_after_the_push_leaves_the_branch_with_a_warning(
    git_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another git process holds ``index.lock`` when the checked-out branch should follow
    the replayed run: the run has landed, so nbflow warns and leaves branch, index and
    the other process's lock file alone instead of failing."""
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    folder1, record1 = write_run(git_repo, RUN_1)
    commit_run(Project(git_repo), folder1, record1, target="current", push=True)
    folder2, record2 = write_run(other, RUN_2)
    lock = other / ".git" / "index.lock"
    real_fetch, fetches = Git.fetch, []

    def another_process_takes_the_index(self: Git, *args: Any, **kwargs: Any) -> Any:
        fetches.append(args)
        if len(fetches) == 2:  # the fetch after the rejected push
            lock.write_text("another git process\n")
        return real_fetch(self, *args, **kwargs)

    monkeypatch.setattr(Git, "fetch", another_process_takes_the_index)
    monkeypatch.setattr(index_lock, "LOCK_WAIT", 0.2)

    with caplog.at_level(logging.WARNING, logger="nbflow.git.repo"):
        result = commit_run(Project(other), folder2, record2, target="current", push=True)

    local = git(other, "rev-parse", "main")
    assert git(git_repo.parent / "origin.git", "rev-parse", "main") == result.sha != local
    assert caplog.messages == [stays_warning(result.sha, local)]
    assert lock.read_text() == "another git process\n"


def test_a_remote_rewritten_meanwhile_stops_the_push_naming_the_run_commit(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remote's branch was rewritten (force-pushed) between nbflow's check and its
    push: the commits under the run are no longer on it, so the run is not replayed
    over them; the error says so, names the fix and the commit kept locally."""
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    folder, record = write_run(other, RUN_1)
    real_try_push, pushes = Git.try_push, []

    def force_pushed_first(self: Git, *args: Any, **kwargs: Any) -> Any:
        if not pushes:
            git(git_repo, "commit", "-q", "--amend", "-m", "rewritten")
            git(git_repo, "push", "-q", "--force", "origin", "main")
        pushes.append(args)
        return real_try_push(self, *args, **kwargs)

    monkeypatch.setattr(Git, "try_push", force_pushed_first)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(other), folder, record, target="current", push=True)

    sha = git(other, "rev-parse", "main")
    assert str(exc.value) == (
        "cannot push the run: the branch has 1 commit(s) that are neither nbflow runs nor "
        "on origin main; integrate them (`git pull --rebase`) and push; the run commit "
        f"{sha[:12]} is kept locally"
    )
    assert git(other, "log", "-1", "--format=%(trailers:key=Nbflow-Run,valueonly)") == RUN_1
    assert git(git_repo.parent / "origin.git", "log", "--format=%s", "main") == "rewritten"


@pytest.mark.parametrize("local", ["missing", "behind"])
def test_a_runs_branch_missing_or_behind_is_built_on_the_remotes_tip_at_once(
    git_repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, local: str
) -> None:
    """A clone without the runs branch, or with one behind the remote's, commits the
    run on the remote's tip, so that the first push lands (no rejected push replayed)."""
    folder, record = write_run(git_repo, RUN_1)
    tip = commit_run(Project(git_repo), folder, record, target="runs-branch", push=True).sha
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    if local == "behind":
        git(other, "branch", "-q", "nbflow/runs", "origin/nbflow/runs")
        folder3, record3 = write_run(git_repo, RUN_3)
        tip = commit_run(Project(git_repo), folder3, record3, target="runs-branch", push=True).sha
    folder2, record2 = write_run(other, RUN_2)

    with caplog.at_level(logging.INFO, logger="nbflow.git.repo"):
        result = commit_run(Project(other), folder2, record2, target="runs-branch", push=True)

    assert git(other, "rev-parse", f"{result.sha}^") == tip
    assert [m for m in caplog.messages if "push rejected" in m] == []
