"""Committing runs to Git (what else nbflow asks Git is in ``lookups.py``).

Committing a run (:func:`commit_run`) never touches the user's other work, and commits
only the files nbflow wrote in the run folder (``store/runs.py: written_files``) and the
workflow's history page (git/history_page.py). Commits are built with plumbing, no
index: the target branch's tree with those files grafted in (``Git.tree_with_files``:
``hash-object`` and ``mktree``), then ``commit-tree`` and ``update-ref`` as a compare-and-swap,
retried up to :data:`REF_ATTEMPTS` times when another commit moved the branch meanwhile.
On the checked-out branch the real index gains the same files under ``index.lock``
(``git/index_lock.py``), so staged and unstaged changes elsewhere stay exactly as they
were and the branch and the index change together. The runs branch and pull-request
branches are written without switching the checkout. Before a push, commits of the
user's that the remote lacks are refused, not published along with the run.

A rejected push (another run landed first) is retried: fetch, replay the run commits on
the new tip and push again, up to :data:`PUSH_ATTEMPTS` times (git/replay.py): a run
folder is added, or replaces an earlier attempt of the same run (a re-run of failed jobs
on GitHub), in a new commit on top. A folder on the remote holding another run under the
same id is a real conflict: a StoreError naming the files that differ, with the local
commit kept. The git commands themselves are run by :class:`nbflow.git.commands.Git`.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nbflow.errors import StoreError, UnpublishedCommitsError, UsageError
from nbflow.git.commands import DEFAULT_REMOTE, ZERO_SHA, Git, GitFailure, lock_message
from nbflow.git.history_page import committed_tree, sync_page
from nbflow.git.index_lock import IndexLock, IndexLockedError
from nbflow.git.replay import replay_run
from nbflow.project import COMMIT_TARGETS, CommitSettings, Project
from nbflow.run_record import RunRecord
from nbflow.store.runs import written_files

log = logging.getLogger(__name__)

PUSH_ATTEMPTS = 5
REF_ATTEMPTS = 10  # compare-and-swap of a local branch, when other commits land at once
DIRTY_TRAILER = "Nbflow-Dirty"
LOGICAL_TIME_TRAILER = "Nbflow-Logical-Time"
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
    """Commit the files nbflow wrote in the run folder ``run_dir`` (and nothing else)
    to ``target`` — ``current`` (the checked-out branch), ``runs-branch`` or ``pr`` (a
    new branch ``nbflow/<workflow>/<run-id>`` based on HEAD) — and push it when ``push``."""
    if target not in COMMIT_TARGETS:
        choices = ", ".join(COMMIT_TARGETS)
        raise UsageError(f"unknown commit target '{target}': use one of {choices}")
    git = Git.open(project.root)
    folder = git.relative(run_dir)
    names = _files_to_commit(run_dir, folder, record)
    check_notebook_sizes(run_dir, folder, names, project.commit)
    committer = _Committer(git, [f"{folder}/{n}" for n in names], record, project.commit)
    if target == "current":
        return committer.to_current(push)
    if target == "runs-branch":
        return committer.to_runs_branch(push)
    return committer.to_pr_branch(push)


def commit_message(record: RunRecord) -> str:
    """``nbflow: <summary line>``, a body, and trailers ``git log --grep`` can find."""
    from nbflow.report.run_report import render_summary_line

    trailers = dict(
        zip(
            TRAILER_KEYS,
            (record.workflow, record.run_id, record.status.value, record.trigger),
            strict=True,
        )
    )
    trailers[LOGICAL_TIME_TRAILER] = record.logical
    if record.is_dirty:  # the run's inputs were not all committed (record.uncommitted)
        trailers[DIRTY_TRAILER] = "true"
    return (
        f"nbflow: {render_summary_line(record)}\n\n"
        "Executed notebooks, run record (run.json) and report (README.md) of this run.\n\n"
        + "".join(f"{key}: {value}\n" for key, value in trailers.items())
    )


def check_notebook_sizes(
    run_dir: Path, folder: str, names: Sequence[str], settings: CommitSettings
) -> None:
    """Warn about notebooks above ``warn_notebook_bytes``; refuse above ``max_notebook_bytes``."""
    for notebook in [run_dir / n for n in names if n.endswith(".ipynb")]:
        size = notebook.stat().st_size
        name = f"{folder}/{notebook.name}"
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


def _files_to_commit(run_dir: Path, folder: str, record: RunRecord) -> list[str]:
    """The files of the run folder nbflow wrote (issue 10, item 1), by name; anything
    else in it — written there by a notebook — is left out, with a warning."""
    names = [n for n in written_files(record) if (run_dir / n).is_file()]
    left_out = sorted(
        p.relative_to(run_dir).as_posix()
        for p in run_dir.rglob("*")
        if p.is_file() and p.relative_to(run_dir).as_posix() not in names
    )
    if left_out:
        log.warning(
            "not committed: %s in %s: nbflow commits only the run record, the report and "
            "the executed notebooks (see docs/security.md)",
            ", ".join(left_out),
            folder,
        )
    return names


# --------------------------------------------------------------------------- committing


class _Committer:
    """Builds and lands the commit of one run folder."""

    def __init__(self, git: Git, paths: Sequence[str], record: RunRecord, settings: CommitSettings):
        self.git, self.paths, self.record, self.settings = git, paths, record, settings
        self.folder = paths[0].rpartition("/")[0]
        self.message = commit_message(record)

    def to_current(self, push: bool) -> CommitResult:
        """Commit on the checked-out branch, holding the index lock so that the branch
        and the index (the run folder's files only) change together."""
        branch = self.git.current_branch()
        ref = f"refs/heads/{branch}"
        remote, remote_ref = self.git.upstream(branch) if push else ("", "")
        if push:
            self.git.fetch(remote, remote_ref.removeprefix("refs/heads/"))
            self._refuse_unpublished(self.git.rev(ref), remote, "current")
        with IndexLock.hold(self.git, self.record.run_id) as index:
            index.stage(self.paths)
            sha = self._commit_on(ref, lambda: (self.git.rev(ref),) * 2)
            sync_page(self.git, sha, self.folder, index.env)
            self._update_index(index, sha, branch)
        if not push:
            return CommitResult(sha, branch)
        landed = self._push(sha, remote, remote_ref, functools.partial(self._move_current, ref))
        return CommitResult(landed, branch, True)

    def to_runs_branch(self, push: bool) -> CommitResult:
        """Commit on the runs branch (an orphan branch on first use), checkout untouched."""
        branch = self.settings.runs_branch
        ref = f"refs/heads/{branch}"
        remote = self.git.default_remote() if push else DEFAULT_REMOTE
        if push:
            self.git.fetch(remote, branch)
            parent, _ = self._runs_branch_base(ref, f"refs/remotes/{remote}/{branch}")
            self._refuse_unpublished(parent, remote, "runs-branch")
        sha = self._commit_on(
            ref, functools.partial(self._runs_branch_base, ref, f"refs/remotes/{remote}/{branch}")
        )
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
        remote = self.git.default_remote() if push else ""
        if push:
            self._refuse_unpublished(parent, remote, "pr")
        sha = self._commit_on(f"refs/heads/{branch}", lambda: (parent, tip), attempts=1)
        if push:
            self.git.push(remote, f"refs/heads/{branch}:refs/heads/{branch}")
        return CommitResult(sha, branch, push)

    # ----------------------------------------------------------------- helpers

    def _commit_on(
        self,
        ref: str,
        base: Callable[[], tuple[str | None, str | None]],
        attempts: int = REF_ATTEMPTS,
    ) -> str:
        """Commit the run on the parent ``base()`` names and move ``ref`` from the value
        ``base()`` read to it, a compare-and-swap; when another commit moved ``ref``
        meanwhile, start again from its new value, up to ``attempts`` times."""
        for attempt in range(1, attempts + 1):
            parent, current = base()
            tree = committed_tree(self.git, parent, self.paths, self.folder)
            if parent is not None and tree == self.git.run("rev-parse", f"{parent}^{{tree}}"):
                log.info("%s is committed already on %s", self.folder, ref)
                return parent
            sha = self.git.commit_tree(tree, [parent] if parent else [], self.message)
            failure = self.git.try_update_ref(ref, sha, current or ZERO_SHA)
            if failure is None:
                return sha
            if "cannot lock ref" not in failure.stderr or attempt == attempts:
                raise StoreError(self._not_committed(ref, failure, attempt))
            log.info("%s moved while committing (attempt %d); committing again", ref, attempt)
            time.sleep(random.uniform(0.02, 0.2) * attempt)
        raise AssertionError("unreachable")

    def _not_committed(self, ref: str, failure: GitFailure, attempts: int) -> str:
        """Why moving ``ref`` failed, without git's raw message when nbflow knows."""
        again = f"commit the run with `nbflow commit {self.record.run_id}`"
        held = re.search(r"Unable to create '([^']+\.lock)': File exists", failure.stderr)
        if held:
            return lock_message(Path(held.group(1)), self.record.run_id)
        if "reference already exists" in failure.stderr and attempts == 1:
            return f"cannot commit the run: {ref} exists already; nothing was committed"
        if "cannot lock ref" in failure.stderr:
            return (
                f"cannot commit the run: {ref} kept moving, other commits landed on it "
                f"{attempts} times while this one was made; nothing was committed; {again}"
            )
        detail = " ".join(failure.stderr.split()) or f"exit {failure.status}"
        return (
            f"cannot commit the run: git refused to move {ref}: {detail}; "
            f"nothing was committed; {again}"
        )

    def _update_index(self, index: IndexLock, sha: str, branch: str) -> None:
        try:
            index.commit()
        except OSError as exc:
            raise StoreError(
                f"the run is committed as {sha[:12]} on {branch}, but the index could not be "
                f"updated ({exc.strerror}: {index.path}), so `git status` shows the run's "
                f"files as deleted; run `git reset -q -- {self.folder}` to fix it"
            ) from exc

    def _runs_branch_base(self, ref: str, tracking: str) -> tuple[str | None, str | None]:
        """The parent of a runs-branch commit (the remote's tip when the local branch is
        missing or behind it), and the local branch's value."""
        local, remote_tip = self.git.rev(ref), self.git.rev(tracking)
        if local is None or (remote_tip and self.git.is_ancestor(local, remote_tip)):
            return remote_tip or local, local
        return local, local

    def _refuse_unpublished(self, parent: str | None, remote: str, target: str) -> None:
        """Refuse, before committing or pushing anything, to push commits of the user's
        that ``remote`` does not have along with the run (issue 10, item 9)."""
        others = self.git.unpublished(parent, remote) if parent else []
        if others:
            raise UnpublishedCommitsError(
                _unpublished_message(others, remote, self.record.run_id, target)
            )

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
            # a branch the remote never had (a first push) leaves nothing to replay on
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
            new = replay_run(self.git, commit, new, where, sha)
        return new

    def _move_current(self, ref: str, new: str, old: str) -> None:
        """Fast-forward the checked-out branch to the replayed commit, carrying the
        user's local changes like ``git checkout`` does, with branch and index changing
        together under the index lock; leave both where they were, with a warning, when
        local changes are in the way, the branch moved meanwhile or the index is locked."""
        self.git.try_run("update-index", "-q", "--refresh")
        try:
            with IndexLock.hold(self.git, self.record.run_id) as index:
                if self._fast_forward(index, ref, new, old):
                    self._update_index(index, new, ref.removeprefix("refs/heads/"))
                    return
        except IndexLockedError:
            pass
        log.warning(
            "the run landed on the remote as %s, but this branch stays at %s (local changes "
            "are in the way, or the branch or its index is in use); run `git pull --rebase` "
            "when convenient",
            new[:12],
            (self.git.rev(ref) or old)[:12],
        )

    def _fast_forward(self, index: IndexLock, ref: str, new: str, old: str) -> bool:
        """Move ``ref`` from ``old`` to ``new`` and the work tree and the prepared index
        with it; False, with nothing changed, when that cannot be done."""
        if self.git.rev(ref) != old:
            return False
        if self.git.try_run("read-tree", "-m", "-u", old, new, env=index.env) is not None:
            return False
        if self.git.try_update_ref(ref, new, old) is None:
            return True
        self.git.try_run("read-tree", "-m", "-u", new, old, env=index.env)  # files back
        return False


def _unpublished_message(
    commits: Sequence[tuple[str, str]], remote: str, run_id: str, target: str
) -> str:
    shown = "; ".join(f"{sha[:12]} {subject}" for sha, subject in commits[:5])
    more = f" and {len(commits) - 5} more" if len(commits) > 5 else ""
    again = f"nbflow commit {run_id} --push" + (
        "" if target == "current" else f" --target {target}"
    )
    alone = (
        ""
        if target == "runs-branch"
        else f", or publish the run alone on the runs branch: `nbflow commit {run_id} "
        "--push --target runs-branch`"
    )
    return (
        f"cannot push the run: it would publish {len(commits)} commit(s) of yours that are "
        f"not on {remote}: {shown}{more}; nothing was pushed, and the run is not committed "
        f"(its folder stays); push your commits yourself first, then `{again}`{alone}"
    )


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
