"""Committing runs to Git, and reading Git for the rest of nbflow.

Committing a run (:func:`commit_run`) never touches the user's other work. Commits
are built with plumbing and a temporary index (``GIT_INDEX_FILE``) filled from the
target branch's tree plus the run folder only, then ``write-tree``,
``commit-tree`` and ``update-ref``; the real index is updated for the run folder's
paths alone (``git reset <commit> -- <run folder>``), so staged and unstaged
changes elsewhere stay exactly as they were. The runs branch and pull-request
branches are written without switching the checkout.

A rejected push (another run landed first) is retried: fetch, replay the run
commits on the new tip (run folders are only ever added and run ids are unique,
so they never conflict) and push again, up to :data:`PUSH_ATTEMPTS` times. A run
folder that exists on the remote already is a real conflict: a StoreError, with
the local commit kept. The git commands themselves are run by
:class:`nbflow.store.gitcmd.Git`.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.errors import StoreError, UsageError
from nbflow.project import COMMIT_TARGETS, CommitSettings, Project
from nbflow.run_record import RunRecord
from nbflow.store.gitcmd import DEFAULT_REMOTE, ZERO_SHA, Git

log = logging.getLogger(__name__)

PUSH_ATTEMPTS = 5
DIRTY_TRAILER = "Nbflow-Dirty"
TRAILER_KEYS = ("Nbflow-Workflow", "Nbflow-Run", "Nbflow-Status", "Nbflow-Trigger")
_RETRYABLE = re.compile(
    r"\[rejected\]|fetch first|non-fast-forward|cannot lock ref|failed to update ref"
    r"|incorrect old value"
)


@dataclass(frozen=True)
class CommitResult:
    """Where a run was committed: the commit, its branch, and whether it was pushed."""

    sha: str
    branch: str
    pushed: bool = False


# --------------------------------------------------------------------------- public API


def commit_run(
    project: Project, run_dir: Path, record: RunRecord, *, target: str, push: bool
) -> CommitResult:
    """Commit the run folder ``run_dir`` (and nothing else) to ``target`` — ``current``
    (the checked-out branch), ``runs-branch`` or ``pr`` (a new branch
    ``nbflow/<workflow>/<run-id>`` based on HEAD) — and push it when ``push``."""
    if target not in COMMIT_TARGETS:
        choices = ", ".join(COMMIT_TARGETS)
        raise UsageError(f"unknown commit target '{target}': use one of {choices}")
    git = Git.open(project.root)
    folder = git.relative(run_dir)
    check_notebook_sizes(run_dir, folder, project.commit)
    committer = _Committer(git, folder, record, project.commit)
    if target == "current":
        return committer.to_current(push)
    if target == "runs-branch":
        return committer.to_runs_branch(push)
    return committer.to_pr_branch(push)


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


def commit_message(record: RunRecord) -> str:
    """``nbflow: <summary line>``, a body, and trailers ``git log --grep`` can find."""
    from nbflow.report import render_summary_line

    trailers = dict(
        zip(
            TRAILER_KEYS,
            (record.workflow, record.run_id, record.status.value, record.trigger),
            strict=True,
        )
    )
    if record.is_dirty:  # the run's inputs were not all committed (record.uncommitted)
        trailers[DIRTY_TRAILER] = "true"
    return (
        f"nbflow: {render_summary_line(record)}\n\n"
        "Executed notebooks, run record (run.json) and report (README.md) of this run.\n\n"
        + "".join(f"{key}: {value}\n" for key, value in trailers.items())
    )


def check_notebook_sizes(run_dir: Path, folder: str, settings: CommitSettings) -> None:
    """Warn about notebooks above ``warn_notebook_bytes``; refuse above ``max_notebook_bytes``."""
    for notebook in sorted(run_dir.rglob("*.ipynb")):
        size = notebook.stat().st_size
        name = f"{folder}/{notebook.relative_to(run_dir).as_posix()}"
        if size > settings.max_notebook_bytes:
            raise StoreError(
                f"{name} is {_mb(size)}, above the limit of {_mb(settings.max_notebook_bytes)}: "
                "not committed; clear large outputs in the notebook, or raise the limit in "
                f"nbflow.yaml with `commit: {{max_notebook_bytes: {size + 1}}}`"
            )
        if size > settings.warn_notebook_bytes:
            log.warning(
                "%s is %s, above %s (commit.warn_notebook_bytes in nbflow.yaml): large "
                "notebooks make the repository slow to clone",
                name,
                _mb(size),
                _mb(settings.warn_notebook_bytes),
            )


def iter_committed_records(
    repo_root: Path, branch: str, workflow: str | None = None
) -> Iterator[RunRecord]:
    """Run records committed on ``branch`` under ``<repo_root>/runs``, read from Git
    objects (no checkout); nothing when the branch or the folder does not exist."""
    from nbflow.project import RUNS_DIR
    from nbflow.store.runs import RECORD_FILE, RUN_ID_PATTERN

    git = Git.find(repo_root)
    if git is None:
        return
    runs_tree = git.tree(branch, git.relative(Path(repo_root) / RUNS_DIR))
    if runs_tree is None:
        return
    for workflow_tree in sorted(runs_tree.trees, key=lambda t: t.name):
        if workflow and workflow_tree.name != workflow:
            continue
        for run_tree in sorted(workflow_tree.trees, key=lambda t: t.name):
            if RUN_ID_PATTERN.match(run_tree.name):
                record = _record_from_tree(run_tree, RECORD_FILE)
                if record is not None:
                    yield record


def history_branches(repo_root: Path, runs_branch: str) -> list[str]:
    """Where committed runs are read from: HEAD, and the runs branch (local, else its
    remote-tracking copy) when it exists."""
    git = Git.find(repo_root)
    if git is None:
        return []
    branches = ["HEAD"]
    for candidate in (runs_branch, f"{DEFAULT_REMOTE}/{runs_branch}"):
        if git.rev(candidate):
            branches.append(candidate)
            break
    return branches


# --------------------------------------------------------------------------- committing


class _Committer:
    """Builds and lands the commit of one run folder."""

    def __init__(self, git: Git, folder: str, record: RunRecord, settings: CommitSettings):
        self.git, self.folder, self.record, self.settings = git, folder, record, settings
        self.message = commit_message(record)

    def to_current(self, push: bool) -> CommitResult:
        """Commit on the checked-out branch; update the real index for the run folder only."""
        self.git.check_index_lock(self.record.run_id)
        branch = self.git.current_branch()
        ref = f"refs/heads/{branch}"
        parent = self.git.rev(ref)
        sha = self._commit_on(parent, ref, expected=parent or ZERO_SHA)
        self.git.run("reset", "-q", sha, "--", self.folder)
        if not push:
            return CommitResult(sha, branch)
        remote, remote_ref = self.git.upstream(branch)
        landed = self._push(sha, remote, remote_ref, functools.partial(self._move_current, ref))
        return CommitResult(landed, branch, True)

    def to_runs_branch(self, push: bool) -> CommitResult:
        """Commit on the runs branch (an orphan branch on first use), checkout untouched."""
        branch = self.settings.runs_branch
        ref = f"refs/heads/{branch}"
        remote = self.git.default_remote() if push else DEFAULT_REMOTE
        parent = self._runs_branch_base(ref, remote, branch, fetch=push)
        sha = self._commit_on(parent, ref, expected=self.git.rev(ref) or ZERO_SHA)
        if not push:
            return CommitResult(sha, branch)
        landed = self._push(sha, remote, ref, functools.partial(self.git.update_ref, ref))
        return CommitResult(landed, branch, True)

    def to_pr_branch(self, push: bool) -> CommitResult:
        """Commit on the branch ``nbflow/<workflow>/<run-id>``: a new one based on HEAD,
        or the one an earlier commit of this run made (nothing new when it holds the
        folder as it is), so committing a run again pushes the same branch."""
        branch = f"nbflow/{self.record.workflow}/{self.record.run_id}"
        tip = self.git.rev(f"refs/heads/{branch}")
        parent = tip or self.git.rev("HEAD")
        if parent is None:
            raise StoreError("cannot commit the run on a new branch: the repository has no commits")
        sha = self._commit_on(parent, f"refs/heads/{branch}", expected=tip or ZERO_SHA)
        if push:
            remote = self.git.default_remote()
            self.git.push(remote, f"refs/heads/{branch}:refs/heads/{branch}")
        return CommitResult(sha, branch, push)

    # ----------------------------------------------------------------- helpers

    def _commit_on(self, parent: str | None, ref: str, *, expected: str) -> str:
        """Commit parent's tree plus the run folder; move ``ref`` from ``expected`` to it."""
        tree = self.git.tree_with_folder(parent, self.folder)
        self.git.check_only_folder(parent, tree, self.folder)
        if parent is not None and tree == self.git.run("rev-parse", f"{parent}^{{tree}}"):
            log.info("%s is committed already on %s", self.folder, ref)
            return parent
        sha = self.git.commit_tree(tree, [parent] if parent else [], self.message)
        self.git.update_ref(ref, sha, expected)
        return sha

    def _runs_branch_base(self, ref: str, remote: str, branch: str, *, fetch: bool) -> str | None:
        local = self.git.rev(ref)
        remote_tip = self.git.fetch(remote, branch, missing_ok=True) if fetch else None
        remote_tip = remote_tip or self.git.rev(f"refs/remotes/{remote}/{branch}")
        if local is None or (remote_tip and self.git.is_ancestor(local, remote_tip)):
            return remote_tip or local
        return local

    def _push(
        self, sha: str, remote: str, remote_ref: str, move: Callable[[str, str], None]
    ) -> str:
        """Push ``sha`` to ``remote_ref``; on rejection replay onto the new tip and retry.
        ``move(new, old)`` points the local branch at a replayed commit. Returns the
        commit that landed."""
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            error = self.git.try_push(remote, f"{sha}:{remote_ref}")
            if error is None:
                return sha
            if not _RETRYABLE.search(error.stderr) or attempt == PUSH_ATTEMPTS:
                raise StoreError(f"{error}; the run commit {sha[:12]} is kept locally")
            time.sleep(random.uniform(0.05, 0.3) * attempt)
            tip = self.git.fetch(remote, remote_ref.removeprefix("refs/heads/"))
            replayed = self._replay(sha, tip, remote, remote_ref)
            move(replayed, sha)
            sha = replayed
            log.info("push rejected (attempt %d); replayed the run on %s", attempt, tip)
        raise AssertionError("unreachable")

    def _replay(self, sha: str, tip: str | None, remote: str, remote_ref: str) -> str:
        if tip is None:
            return sha
        where = f"{remote} {remote_ref.removeprefix('refs/heads/')}"
        commits = self.git.run("rev-list", "--reverse", f"{tip}..{sha}").split()
        others = [c for c in commits if not self.git.is_run_commit(c)]
        if others:
            raise StoreError(
                f"cannot push the run: the branch has {len(others)} commit(s) that are neither "
                f"nbflow runs nor on {where}; integrate them (`git pull --rebase`) and push; "
                f"the run commit {sha[:12]} is kept locally"
            )
        new = tip
        for commit in commits:
            new = self.git.replay_added(commit, new, where, sha)
        return new

    def _move_current(self, ref: str, new: str, old: str) -> None:
        """Fast-forward the checked-out branch to the replayed commit, carrying the
        user's local changes like ``git checkout`` does; leave it if they are in the way."""
        self.git.try_run("update-index", "-q", "--refresh")
        if self.git.try_run("read-tree", "-m", "-u", old, new) is not None:
            log.warning(
                "the run landed on the remote as %s, but local changes are in the way of "
                "updating this branch; run `git pull --rebase` when convenient",
                new[:12],
            )
            return
        self.git.update_ref(ref, new, old)


def _record_from_tree(run_tree: Any, name: str) -> RunRecord | None:
    try:
        data = json.loads((run_tree / name).data_stream.read().decode("utf-8"))
        return RunRecord.from_json(data)
    except (KeyError, ValueError, TypeError) as exc:
        log.debug("%s: unreadable committed run record: %s", run_tree.path, exc)
        return None


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


# -- what changed between revisions (nbflow affected, run --changed, hooks) ---------


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
