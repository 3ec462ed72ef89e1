"""One run of a workflow at a time per checkout.

A second run of the same workflow refuses at once with a clear message rather than
waiting: scheduled runs should not pile up silently behind a stuck one. Runs of
different workflows go ahead side by side. The lock is an ``flock`` on a file, so
it is released by the kernel when the process dies, even by ``kill -9``.

The lock file lives inside the Git directory of the checkout holding the runs
folder (``.git/nbflow/locks/<runs folder>/<workflow>.lock``; in a linked worktree,
that worktree's own Git directory), never in the work tree, where ``git add -A``
would commit it (issue 10, item 12). It is found by walking up from the runs
folder for ``.git`` (a folder, or a file ``gitdir: …`` for worktrees and
submodules), without running git. Outside a Git repository the lock stays where
nothing can commit it: ``runs/<workflow>/.lock``.

A run for a schedule tick (a logical time given: ``--schedule``, a catch-up, a
backfill, ``--logical-time``) holds the workflow's lock *shared* and the tick's own
lock (``<workflow>@<tick>.lock``) exclusively: runs of different ticks go ahead side
by side (``nbflow backfill --jobs``), two runs of the same tick never, and a run
without a tick still runs alone. A tick's locks are re-entrant per thread, so a
backfill can hold a tick's lock while it checks the tick's history and runs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from nbflow.errors import RunLockedError

_held = threading.local()  # .paths: the lock files this thread holds


@contextlib.contextmanager
def workflow_lock(runs_dir: Path, workflow: str, tick: str | None = None) -> Iterator[None]:
    """Hold ``workflow``'s lock (shared, with the lock of ``tick`` exclusive, for a
    run of a tick); RunLockedError at once when another run holds it."""
    path = lock_path(runs_dir, workflow)
    if tick is None:
        with _flock(path, fcntl.LOCK_EX, f"{workflow}: another run of this workflow"):
            yield
        return
    with (
        _flock(path, fcntl.LOCK_SH, f"{workflow}: another run of this workflow", reentrant=True),
        _flock(
            lock_path(runs_dir, workflow, tick),
            fcntl.LOCK_EX,
            f"{workflow}: another run of this workflow for {tick}",
            reentrant=True,
        ),
    ):
        yield


@contextlib.contextmanager
def _flock(path: Path, mode: int, what: str, *, reentrant: bool = False) -> Iterator[None]:
    held: set[Path] = _held.__dict__.setdefault("paths", set())
    if reentrant and path in held:  # this thread holds it already, for a tick
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise RunLockedError(
                f"{what} is in progress (pid {holder}); "
                "wait for it to finish, or stop it, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        if reentrant:
            held.add(path)
        try:
            yield
        finally:
            held.discard(path)
    finally:
        os.close(fd)


def lock_path(runs_dir: Path, workflow: str, tick: str | None = None) -> Path:
    """The lock file of ``workflow``'s runs in ``runs_dir`` (of its runs for ``tick``)."""
    name = f"{workflow}@{re.sub(r'[^0-9A-Za-z]', '', tick)}" if tick else workflow
    runs = runs_dir.resolve()
    found = find_git_dir(runs)
    if found is None:
        return runs / workflow / (f".{name}.lock" if tick else ".lock")
    git_dir, top = found
    return git_dir / "nbflow" / "locks" / runs.relative_to(top) / f"{name}.lock"


def find_git_dir(path: Path) -> tuple[Path, Path] | None:
    """The Git directory of the work tree holding ``path``, and the work tree's top."""
    for top in (path, *path.parents):
        dot_git = top / ".git"
        if dot_git.is_dir():
            return dot_git, top
        if dot_git.is_file():
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                return (top / text.removeprefix("gitdir:").strip()).resolve(), top
    return None
