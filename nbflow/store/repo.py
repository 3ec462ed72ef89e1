"""GitPython wrapper: the only module that imports ``git``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def head_commit(path: Path) -> str | None:
    """The commit checked out in the repository containing ``path``, or None."""
    import git

    try:
        repo = git.Repo(path, search_parent_directories=True)
        return str(repo.head.commit.hexsha)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None


# -- what changed between revisions (nbflow affected, run --changed, hooks) ---------
# Imports stay inside the functions: nbflow --help must not load GitPython.


def _repo(path: Path) -> Any:
    """The repository containing ``path``; StoreError outside one."""
    import git

    from nbflow.errors import StoreError

    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise StoreError(f"{path} is not inside a Git repository") from None


def _git(path: Path, *args: str) -> str:
    """Run ``git ARGS`` in the repository of ``path``; StoreError naming it on failure."""
    import git

    from nbflow.errors import StoreError

    try:
        return str(_repo(path).git.execute(["git", *args]))
    except git.GitCommandError as exc:
        stderr = str(exc.stderr).strip().removeprefix("stderr: ").strip("'").strip()
        raise StoreError(f"git {' '.join(args)} failed: {stderr}") from exc


def work_tree(path: Path) -> Path:
    """The top folder of the work tree containing ``path``."""
    return Path(_repo(path).working_tree_dir).resolve()


def revision_range(path: Path, text: str) -> tuple[str, str]:
    """``BASE..HEAD`` (or ``BASE...HEAD``: from their merge base) as two object ids."""
    from nbflow.errors import StoreError

    base, dots, head = text.partition("...") if "..." in text else text.partition("..")
    if not dots:
        raise StoreError(f"'{text}' is not a range: write BASE..HEAD, e.g. HEAD~1..HEAD")
    base, head = _verify(path, base or "HEAD", text), _verify(path, head or "HEAD", text)
    return (_git(path, "merge-base", base, head) if dots == "..." else base), head


def _verify(path: Path, revision: str, text: str) -> str:
    from nbflow.errors import StoreError

    try:
        return _git(path, "rev-parse", "--verify", "--quiet", f"{revision}^{{object}}")
    except StoreError:
        raise StoreError(f"{text}: unknown revision '{revision}'") from None


def changed_paths(path: Path, base: str, head: str) -> list[str]:
    """Paths (relative to the work tree top) that differ between two revisions; a
    renamed file counts under its old and its new path."""
    out = _git(path, "diff", "--name-only", "--no-renames", "--no-ext-diff", "-z", base, head)
    return [p for p in out.split("\0") if p]


def file_at(path: Path, revision: str, file: str) -> str | None:
    """The text of ``file`` (relative to the work tree top) at ``revision``, or None
    when it does not exist there."""
    from nbflow.errors import StoreError

    try:
        _git(path, "cat-file", "-e", f"{revision}:{file}")
    except StoreError:
        return None
    return _git(path, "show", f"{revision}:{file}")


def hooks_dir(path: Path) -> Path:
    """Where Git looks for hooks: ``core.hooksPath`` when set, else ``.git/hooks``."""
    found = Path(_git(path, "rev-parse", "--git-path", "hooks"))
    return found if found.is_absolute() else work_tree(path) / found
