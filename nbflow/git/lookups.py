"""What the rest of nbflow asks Git, outside committing runs (``repo.py``): the top of
the work tree, the ``origin`` URL, the current branch, a path relative to the work
tree, a revision range, the paths changed between two revisions and a file's text
at one (``nbflow affected``, ``run --changed``), and where hooks live.
"""

from __future__ import annotations

from pathlib import Path

from nbflow.errors import StoreError, UsageError
from nbflow.git.commands import DEFAULT_REMOTE, Git


def origin_url(path: Path) -> str | None:
    """The URL of the ``origin`` remote of the repository at ``path``, or None."""
    git = Git.find(path)
    return (git.remote_url(DEFAULT_REMOTE) or None) if git else None


def path_in_repository(path: Path) -> str:
    """``path`` (in a Git work tree) relative to the top of the work tree."""
    return Git.open(path).relative(path)


def current_branch(root: Path) -> str:
    """The branch checked out in the repository at ``root``; StoreError when detached."""
    return Git.open(root).current_branch()


def work_tree(path: Path) -> Path:
    """The top folder of the work tree containing ``path``."""
    return Git.open(path).top


def revision_range(path: Path, text: str) -> tuple[str, str]:
    """``BASE..HEAD`` (or ``BASE...HEAD``: from their merge base) as two object ids."""
    base, dots, head = text.partition("...") if "..." in text else text.partition("..")
    if not dots:
        raise UsageError(f"'{text}' is not a range: write BASE..HEAD, e.g. HEAD~1..HEAD")
    git = Git.open(path)
    base, head = _verify(git, base or "HEAD", text), _verify(git, head or "HEAD", text)
    return (git.run("merge-base", base, head) if dots == "..." else base), head


def _verify(git: Git, revision: str, text: str) -> str:
    try:
        return git.run("rev-parse", "--verify", "--quiet", f"{revision}^{{object}}")
    except StoreError:
        raise UsageError(f"{text}: unknown revision '{revision}'") from None


def changed_paths(path: Path, base: str, head: str) -> list[str]:
    """Paths (relative to the work tree top) that differ between two revisions; a
    renamed file counts under its old and its new path."""
    git = Git.open(path)
    out = git.run("diff", "--name-only", "--no-renames", "--no-ext-diff", "-z", base, head)
    return [p for p in out.split("\0") if p]


def file_at(path: Path, revision: str, file: str) -> str | None:
    """The text of ``file`` (relative to the work tree top) at ``revision``, or None
    when it does not exist there."""
    git = Git.open(path)
    if git.try_run("cat-file", "-e", f"{revision}:{file}") is not None:
        return None
    return git.run("show", f"{revision}:{file}")


def hooks_dir(path: Path) -> Path:
    """Where Git looks for hooks: ``core.hooksPath`` when set, else ``.git/hooks``."""
    return Git.open(path).git_path("hooks")
