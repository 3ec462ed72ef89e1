"""GitPython wrapper: the only module that imports ``git``."""

from __future__ import annotations

from pathlib import Path


def head_commit(path: Path) -> str | None:
    """The commit checked out in the repository containing ``path``, or None."""
    import git

    try:
        repo = git.Repo(path, search_parent_directories=True)
        return str(repo.head.commit.hexsha)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
