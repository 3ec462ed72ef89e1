"""Scratch: where a run keeps what must not outlive it, and is found if it does.

papermill writes each executed notebook into a scratch folder before nbflow masks
its secrets and copies it into the run folder; the kernels' connection files
(their HMAC keys) go there too. Both hold what a run folder must not, so when nbflow
is killed outright (``kill -9``, a runner that vanishes) the scratch folder must not
be left somewhere nobody looks, such as TMPDIR (issue 10, item 5).

So each nbflow process that runs steps keeps its scratch in the project, where
nothing is committed: ``.git/nbflow/scratch/<pid>-<token>/`` (the Git directory of
the checkout, found as for locks), or outside a Git repository
``<project>/.nbflow/scratch/`` (which ignores itself with a ``.gitignore``). Beside
the folder is ``<pid>-<token>.lock``, which the process holds with ``flock`` for as
long as it runs; the kernel releases it when the process dies, even by ``kill -9``.
The next nbflow command in the project (any command: see ``cli.main``; a run, a
resumed run and a step run apart do it too) removes every scratch folder whose lock
it can take. A process removes its own folder when it ends normally.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from nbflow.engine.locks import find_git_dir

log = logging.getLogger(__name__)

IGNORE_ALL = "*\n"


def scratch_root(project_root: Path) -> Path:
    """The folder holding the scratch folders of the nbflow processes of a project."""
    root = project_root.resolve()
    found = find_git_dir(root)
    if found is None:
        return root / ".nbflow" / "scratch"
    return found[0] / "nbflow" / "scratch"


@contextlib.contextmanager
def scratch_folder(project_root: Path) -> Iterator[Path]:
    """A scratch folder for this process, removed on exit; stale ones (of processes
    that died) are removed first."""
    root = scratch_root(project_root)
    remove_stale(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".gitignore").write_text(IGNORE_ALL, encoding="utf-8")
    name = f"{os.getpid()}-{secrets.token_hex(4)}"
    fd = _hold(root / f"{name}.lock")
    folder = root / name
    try:
        folder.mkdir(mode=0o700)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(root / f"{name}.lock")
        os.close(fd)


def _hold(lock: Path) -> int:
    """Create ``lock`` and hold it; a file another process removed as stale meanwhile
    (it held it before this process could) is created anew."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        os.close(fd)


def remove_stale(root: Path) -> list[str]:
    """Remove the scratch folders under ``root`` whose process is gone; their names."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        mine = f"{os.getpid()}-"  # this process is alive: its runs' folders (a backfill's
        for lock in sorted(root.glob("*.lock")):  # runs side by side) are never stale
            if not lock.name.startswith(mine) and _remove_if_free(lock):
                removed.append(lock.stem)
    if removed:
        log.warning(
            "removed the scratch folder (unmasked notebooks) of nbflow processes that did not "
            "end normally: %s",
            ", ".join(str(root / name) for name in removed),
        )
    return removed


def _remove_if_free(lock: Path) -> bool:
    """Remove ``lock`` and its folder unless a live process holds it; whether removed."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:  # gone meanwhile: its owner removed it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:  # held while removing, so its owner-to-be cannot take it meanwhile
        shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
        with contextlib.suppress(OSError):
            lock.unlink()
    finally:
        os.close(fd)
    return True
