"""The index lock held while a run is committed on the checked-out branch.

``git commit`` creates ``.git/index.lock``, writes the new index into it, moves the
branch, then renames the lock file over the index: no other git process can use
the index meanwhile, so the branch and the index change together. nbflow does the
same (issue 10, item 10): :meth:`IndexLock.hold` creates the lock file (waiting a
bounded time for another git process to release it), copies the index into it,
stages the run's files there; the caller moves the branch; :meth:`IndexLock.commit`
renames the lock over the index. Any failure before that deletes the lock file,
leaving branch and index as they were.

Were nbflow killed in the instant between the branch moving and the rename, the
branch would hold the run while the index did not, and the lock file would stay:
delete it, then ``git reset -q -- <run folder>`` (docs/git.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from nbflow.errors import StoreError
from nbflow.git.commands import Git, lock_message

LOCK_WAIT = 10.0  # seconds to wait for another git process to release the index
_POLL = 0.05


class IndexLockedError(StoreError):
    """Another process kept the index locked longer than :data:`LOCK_WAIT`."""


class IndexLock:
    """``index.lock`` created by nbflow, holding the index it will become."""

    def __init__(self, git: Git, index: Path) -> None:
        self.git, self.index = git, index
        self.path = index.with_name(index.name + ".lock")
        self.env = {"GIT_INDEX_FILE": str(self.path)}
        self.committed = False

    @classmethod
    @contextlib.contextmanager
    def hold(cls, git: Git, run_id: str) -> Iterator[IndexLock]:
        """Create the lock file (IndexLockedError naming it when another process keeps
        it longer than :data:`LOCK_WAIT`) holding a copy of the index; delete it on
        leaving unless :meth:`commit` renamed it over the index."""
        lock = cls(git, git.git_path("index"))
        lock._create(run_id, LOCK_WAIT)
        try:
            yield lock
        finally:
            if not lock.committed:  # once renamed, the name may be another process's lock
                lock.path.unlink(missing_ok=True)

    def stage(self, paths: Sequence[str]) -> None:
        """Stage ``paths`` from the work tree in the index being prepared."""
        self.git.add_files(paths, self.env)

    def commit(self) -> None:
        """Make the prepared index the index (the rename ``git commit`` does)."""
        os.replace(self.path, self.index)
        self.committed = True

    def _create(self, run_id: str, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                if time.monotonic() >= deadline:
                    raise IndexLockedError(lock_message(self.path, run_id)) from None
                time.sleep(_POLL)
        try:
            self._fill(fd, run_id)
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise

    def _unreadable(self, exc: OSError, run_id: str) -> str:
        index = self.index
        return (
            f"cannot commit the run: git's index {index} cannot be read ({exc.strerror}); "
            f"move it away (`mv {index} {index}.broken`), then run `git reset -q` to rebuild "
            "it from HEAD (changes you had staged are unstaged, your files stay), then commit "
            f"the run with `nbflow commit {run_id}`"
        )

    def _fill(self, fd: int, run_id: str) -> None:
        """Copy the index into the lock file (StoreError naming the index and the fix
        when it cannot be read); with no index yet (a new repository), an empty one
        written by git (an empty file is not a valid index)."""
        with os.fdopen(fd, "wb") as out:
            if self.index.exists():
                try:
                    with self.index.open("rb") as current:
                        shutil.copyfileobj(current, out)
                except OSError as exc:
                    raise StoreError(self._unreadable(exc, run_id)) from exc
                return
        fresh = self.index.with_name(f"{self.index.name}.nbflow-{os.getpid()}")
        try:
            self.git.run("read-tree", "--empty", env={"GIT_INDEX_FILE": str(fresh)})
            os.replace(fresh, self.path)
        finally:
            fresh.unlink(missing_ok=True)
