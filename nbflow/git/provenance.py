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
    inputs = _Inputs(git, workflow, project)
    changed = _changed_paths(git, commit, inputs.pathspecs())
    return InputTree(commit, tuple(p for p in changed if inputs.count(p)))


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


def _changed_paths(git: Git, commit: str, pathspecs: list[str]) -> list[str]:
    """The tracked files under ``pathspecs`` that differ between ``commit`` and the
    work tree (staged or not), and the untracked ones that are not ignored. Git
    filters by the pathspecs, so the runs folder's files are never listed: their
    number grows with every uncommitted run."""
    if not pathspecs:
        return []
    tracked = git.run(
        "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", commit, "--", *pathspecs
    )
    untracked = git.run(
        "ls-files", "-z", "--others", "--exclude-standard", "--full-name", "--", *pathspecs
    )
    return sorted({p for p in (tracked + "\0" + untracked).split("\0") if p})


class _Inputs:
    """The paths that count as a run's inputs, relative to the work tree top: the
    workflow's folder and ``nbflow.yaml``, never the runs folder."""

    def __init__(self, git: Git, workflow: Workflow, project: Project) -> None:
        self.runs = _within(git, project.runs_dir)
        self.folder = _within(git, workflow.directory)
        self.config = _within(git, project.config_file)

    def pathspecs(self) -> list[str]:
        """Git pathspecs (from the top, literal) of the inputs, the runs folder excluded."""
        specs = [_spec(p) for p in (self.folder, self.config) if p is not None]
        if specs and self.runs is not None and self.runs != ".":
            specs.append(_spec(self.runs, "exclude"))
        return specs

    def count(self, path: str) -> bool:
        """Whether a changed ``path`` (relative to the work tree top) is an input."""
        if self.runs is not None and _is_under(path, self.runs):
            return False
        return path == self.config or (self.folder is not None and _is_under(path, self.folder))


def _spec(path: str, *magic: str) -> str:
    """The pathspec of ``path`` from the top (``.``, the top itself, is the empty path)."""
    words = ",".join(("top", *magic, "literal")) if path != "." else ",".join(("top", *magic))
    return f":({words}){'' if path == '.' else path}"


def _within(git: Git, path: Path) -> str | None:
    """``path`` relative to the work tree top; None when outside it."""
    try:
        return path.resolve().relative_to(git.top).as_posix()
    except ValueError:
        return None


def _is_under(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(f"{folder}/")
