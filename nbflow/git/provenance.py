"""What a run starts from: the input commit and the uncommitted changes on top of it.

A run executes the checked-out files, not a commit: a notebook edited but not
committed runs as edited. So the record names the commit checked out (HEAD) and,
when they differ from it, the paths that matter to the workflow: anything in its
folder (its notebooks, the manifest, the files its steps' ``inputs:`` match, which
never leave the folder; untracked files included) and ``nbflow.yaml``. Ignored
files and the runs folder never count: runs are outputs, not inputs.

The state is read with ``git diff COMMIT`` (the work tree against the commit) and
``git ls-files --others`` for the whole work tree, filtered here, so a deleted,
renamed, staged or unstaged file counts alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from nbflow.errors import UsageError
from nbflow.git.commands import Git
from nbflow.manifest.model import Workflow
from nbflow.project import Project

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputTree:
    """The commit a run starts from (None outside Git or before the first commit)
    and the workflow's paths that differ from it, relative to the work tree top."""

    commit: str | None = None
    uncommitted: tuple[str, ...] = ()

    @property
    def is_dirty(self) -> bool:
        return bool(self.uncommitted)


class DirtyTreeError(UsageError):
    """``--require-clean`` (or ``require_clean: true``) and the inputs have changes."""


def input_tree(workflow: Workflow, project: Project, commit: str | None = None) -> InputTree:
    """The input commit of ``workflow`` (default: HEAD) and the workflow's paths in
    the work tree that differ from it. A resumed run passes the commit it started
    from: a commit made since then counts as a change too."""
    git = Git.find(workflow.directory)
    commit = commit or (git.rev("HEAD") if git else None)
    if git is None or commit is None:
        return InputTree(commit)
    changed = _changed_paths(git, commit)
    return InputTree(commit, tuple(p for p in changed if _counts(p, git, workflow, project)))


def check_clean(tree: InputTree, workflow: Workflow) -> None:
    """Refuse (DirtyTreeError) when ``tree`` has uncommitted changes."""
    if tree.is_dirty:
        raise DirtyTreeError(
            f"{workflow.name}: refusing to run from uncommitted changes to: "
            f"{', '.join(tree.uncommitted)}; commit or stash them first (a clean tree is "
            "required by --require-clean or `require_clean: true` in nbflow.yaml)"
        )


def warn_if_dirty(tree: InputTree, workflow: Workflow) -> None:
    """Log a warning naming the changed paths (the record keeps them too)."""
    if tree.is_dirty:
        log.warning(
            "%s: running from uncommitted changes to: %s (recorded in the run as dirty)",
            workflow.name,
            ", ".join(tree.uncommitted),
        )


def _changed_paths(git: Git, commit: str) -> list[str]:
    """The tracked files that differ between ``commit`` and the work tree (staged or
    not), and the untracked files that are not ignored."""
    tracked = git.run("diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", commit)
    untracked = git.run("ls-files", "-z", "--others", "--exclude-standard", "--full-name")
    return sorted({p for p in (tracked + "\0" + untracked).split("\0") if p})


def _counts(path: str, git: Git, workflow: Workflow, project: Project) -> bool:
    """Whether a changed ``path`` (relative to the work tree top) is an input of the run."""
    runs, folder = _within(git, project.runs_dir), _within(git, workflow.directory)
    if runs is not None and _is_under(path, runs):
        return False
    return path == _within(git, project.config_file) or (
        folder is not None and _is_under(path, folder)
    )


def _within(git: Git, path: Path) -> str | None:
    """``path`` relative to the work tree top; None when outside it."""
    try:
        return path.resolve().relative_to(git.top).as_posix()
    except ValueError:
        return None


def _is_under(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(f"{folder}/")
