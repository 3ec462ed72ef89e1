"""One run of a workflow at a time per checkout.

A second run of the same workflow refuses at once with a clear message rather than
waiting: scheduled runs should not pile up silently behind a stuck one. Runs of
different workflows go ahead side by side. The lock is an ``flock`` on a file in
the runs folder, so it is released by the kernel when the process dies, even by
``kill -9``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from nbflow.errors import RunLockedError


@contextlib.contextmanager
def workflow_lock(runs_dir: Path, workflow: str) -> Iterator[None]:
    path = runs_dir / workflow / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise RunLockedError(
                f"{workflow}: another run of this workflow is in progress (pid {holder}); "
                "wait for it to finish, or stop it, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
