"""Waiting for data: a step's ``wait_for:`` globs, on local disk or behind fsspec URLs.

Design decisions:

- A relative path is relative to the workflow folder (the steps' working
  directory); an absolute path or a ``file://`` URL is taken as it is; any other
  ``scheme://`` URL (``s3://``, ``gs://``, ``memory://``) is listed through fsspec,
  imported only then (manifest/remote.py): a missing package is an error naming
  what to install, never a silent wait until the timeout.
- A glob matches once it matches at least one path (a file or a folder). Producers
  should write under a temporary name and rename, so a half-written file is never
  seen.
- Each waiting step is watched by its own daemon thread (:class:`Watch`), never a
  worker of the run's pool: a waiting step takes no ``--jobs`` slot, and a slow
  listing (a remote store) never stalls the run's loop. The loop reads the watch's
  state; the deadline is kept by the loop's clock, so even a listing that hangs
  cannot make a step wait past its ``timeout``. Stopping a watch (Ctrl-C, the run
  cancelled) ends its thread at its next check.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nbflow.errors import NbflowError
from nbflow.manifest.remote import protocol_of, protocol_problem

__all__ = ["WaitError", "Watch", "unmatched"]

log = logging.getLogger(__name__)


class WaitError(NbflowError):
    """A ``wait_for:`` path that cannot be checked at all (no fsspec, unknown protocol,
    the protocol's package missing)."""


def unmatched(patterns: Sequence[str], base: Path) -> list[str]:
    """The patterns no path matches yet; WaitError if one cannot be checked."""
    return [p for p in patterns if not _matches(p, base)]


def _matches(pattern: str, base: Path) -> bool:
    if protocol_of(pattern) is None:
        local = pattern.removeprefix("file://")
        return bool(glob.glob(os.path.join(base, local), recursive=True))
    problem = protocol_problem(pattern)
    if problem:
        raise WaitError(f"wait_for: {problem[0]}; {problem[1]}")
    import fsspec

    filesystem, path = fsspec.core.url_to_fs(pattern)
    filesystem.invalidate_cache()  # a listing cached by an earlier check is stale
    return bool(filesystem.glob(path))


@dataclass
class Watch:
    """One step waiting for ``patterns``: checked at once, then every ``every``
    seconds on a daemon thread, until they all match, the deadline passes or
    :meth:`stop` is called."""

    step_id: str
    patterns: tuple[str, ...]
    base: Path
    timeout: float
    every: float
    started: float = field(default_factory=time.monotonic)
    missing: list[str] = field(default_factory=list)
    error: str = ""
    checks: int = 0
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Watch:
        self.missing = list(self.patterns)
        self._thread = threading.Thread(
            target=self._watch, name=f"wait-{self.step_id}", daemon=True
        )
        self._thread.start()
        return self

    @property
    def ready(self) -> bool:
        """Every pattern matched."""
        return self._ready.is_set()

    @property
    def timed_out(self) -> bool:
        return not self.ready and time.monotonic() - self.started >= self.timeout

    @property
    def waited(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.missing = unmatched(self.patterns, self.base)
            except WaitError as exc:
                self.error = str(exc)
                return
            except Exception as exc:  # a listing failing now may work at the next check
                log.warning("%s: wait_for: cannot list yet: %s", self.step_id, exc)
            self.checks += 1
            if not self.missing:
                self._ready.set()
                return
            left = self.timeout - (time.monotonic() - self.started)
            if left <= 0 or self._stop.wait(min(self.every, left)):
                return
