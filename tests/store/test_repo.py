"""The Git wrapper's functions for changes between revisions, on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import commit_all, git
from nbflow.errors import StoreError
from nbflow.store import repo


@pytest.fixture
def two_commits(git_repo: Path) -> Path:
    (git_repo / "a.txt").write_text("a\n")
    (git_repo / "old name.txt").write_text("moved\n")
    commit_all(git_repo, "first")
    (git_repo / "a.txt").write_text("a2\n")
    (git_repo / "sub").mkdir()
    git(git_repo, "mv", "old name.txt", "sub/new name.txt")
    commit_all(git_repo, "second")
    return git_repo


def test_changed_paths_count_a_rename_under_both_names(two_commits: Path) -> None:
    base, head = repo.revision_range(two_commits, "HEAD~1..HEAD")
    assert repo.changed_paths(two_commits, base, head) == [
        "a.txt",
        "old name.txt",
        "sub/new name.txt",
    ]


def test_file_at_a_revision(two_commits: Path) -> None:
    assert repo.file_at(two_commits, "HEAD~1", "a.txt") == "a"
    assert repo.file_at(two_commits, "HEAD", "a.txt") == "a2"
    assert repo.file_at(two_commits, "HEAD", "old name.txt") is None


def test_revision_range_forms(two_commits: Path) -> None:
    first, second = git(two_commits, "rev-parse", "HEAD~1"), git(two_commits, "rev-parse", "HEAD")
    assert repo.revision_range(two_commits, "HEAD~1..") == (first, second)
    assert repo.revision_range(two_commits, "HEAD...HEAD~1") == (first, first)
    with pytest.raises(StoreError, match=r"^'HEAD' is not a range: write BASE\.\.HEAD"):
        repo.revision_range(two_commits, "HEAD")


def test_hooks_dir_follows_core_hooks_path(git_repo: Path) -> None:
    assert repo.hooks_dir(git_repo) == git_repo.resolve() / ".git" / "hooks"
    git(git_repo, "config", "core.hooksPath", ".githooks")
    assert repo.hooks_dir(git_repo) == git_repo.resolve() / ".githooks"
    git(git_repo, "config", "core.hooksPath", str(git_repo / "elsewhere"))
    assert repo.hooks_dir(git_repo) == git_repo / "elsewhere"


def test_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not inside a Git repository"):
        repo.work_tree(tmp_path)
