"""Run summaries read through a cache kept in the repository's git dir
(``.git/nbflow/summaries.json``), so listing 10,000 runs parses one small file, not
10,000 records.

The cache cannot lie:

- a committed record's summary is keyed by the record's blob id: content-addressed,
  so never stale;
- a working-tree record's by its path, size, ``mtime_ns`` and inode, and kept only
  when the file was last written more than :data:`RACY_SECONDS` before (git's index
  does the same with "racily clean" entries): a file rewritten in place with the
  same size within one clock tick keeps its stat, so a fresh file is read every time.

The file is written atomically (a temporary file renamed over it), carries a
version, lives in the git dir (never in the work tree, never committed), and is a
convenience only: a damaged, unreadable or unwritable cache is ignored (and
rebuilt when it can be written), never an error.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbflow.errors import WriteError
from nbflow.git.commands import Git
from nbflow.run_summary import RunSummary
from nbflow.store.runs import RECORD_FILE, read_json, write_atomic

log = logging.getLogger(__name__)

CACHE_FILE = "nbflow/summaries.json"  # under the git dir
VERSION = 1
RACY_SECONDS = 3
LIMIT = 200_000  # entries; beyond it only those used by the last listing are kept


class Summaries:
    """Summaries of the run records of one repository, read through its cache; call
    :meth:`save` once done."""

    def __init__(self, git: Git) -> None:
        self.git = git
        self.path = git.git_path(CACHE_FILE)
        self._blobs, self._files = _load(self.path)
        self._used_blobs: dict[str, Any] = {}
        self._used_files: dict[str, Any] = {}
        self._added = False

    def of_folder(self, folder: Path) -> RunSummary:
        """The summary of the ``run.json`` in ``folder``: OSError, KeyError,
        ValueError or TypeError (as reading it does) when it cannot be read."""
        key = os.path.join(folder, RECORD_FILE)  # not a Path: 10,000 of them cost
        stat = os.stat(key)
        entry = self._files.get(key)
        if isinstance(entry, list) and entry[:1] == [[stat.st_size, stat.st_mtime_ns, stat.st_ino]]:
            summary = _summary(entry[-1], lambda: read_json(folder))
            if summary is not None:
                self._used_files[key] = entry
                return summary
        summary = RunSummary.from_json(read_json(folder))
        if stat.st_mtime_ns < time.time_ns() - RACY_SECONDS * 10**9:
            self._used_files[key] = [
                [stat.st_size, stat.st_mtime_ns, stat.st_ino],
                summary.fields(),
            ]
            self._added = True
        return summary

    def committed(
        self, rev: str, folder: str, wanted: Callable[[str], bool] | None = None
    ) -> list[tuple[str, RunSummary | None]]:
        """The run records under ``folder`` at ``rev`` (whose path ``wanted``
        accepts) by path, each with its summary, or None when it is unreadable."""
        found = self.git.blobs_named(rev, folder, RECORD_FILE, wanted)
        summaries: dict[str, RunSummary | None] = {}
        unread = []
        for path, blob in found:
            if blob in self._blobs:
                fields = self._blobs[blob]
                summary = None if fields is None else _summary(fields, self._reader(blob))
                if fields is None or summary is not None:
                    self._used_blobs[blob] = fields
                    summaries[path] = summary
                    continue
            unread.append((path, blob))
        for (path, blob), data in zip(
            unread, self.git.read_blobs([b for _, b in unread]), strict=True
        ):
            try:
                summary = RunSummary.from_json(json.loads(data.decode("utf-8")))
            except (KeyError, ValueError, TypeError) as exc:
                log.debug("%s: unreadable committed run record: %s", path, exc)
                summary = None
            summaries[path] = summary
            self._used_blobs[blob] = summary and summary.fields()
            self._added = True
        return [(path, summaries[path]) for path, _ in found]

    def _reader(self, blob: str) -> Callable[[], Any]:
        return lambda: json.loads(self.git.read_blobs([blob])[0].decode("utf-8"))

    def save(self) -> None:
        """Write the cache when this listing added to it; nothing (but a debug
        message) when it cannot be written."""
        if not self._added:
            return
        blobs, files = {**self._blobs, **self._used_blobs}, {**self._files, **self._used_files}
        if len(blobs) + len(files) > LIMIT:
            blobs, files = self._used_blobs, self._used_files
        text = json.dumps({"version": VERSION, "blobs": blobs, "files": files})
        try:
            write_atomic(self.path, text)
        except WriteError as exc:
            log.debug("run summary cache not written: %s", exc)


def _load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cache's committed and working-tree entries; none when it is missing,
    damaged or of another version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.debug("%s: run summary cache not read: %s", path, exc)
        return {}, {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}, {}
    blobs, files = data.get("blobs"), data.get("files")
    if not isinstance(blobs, dict) or not isinstance(files, dict):
        return {}, {}
    return blobs, files


def _summary(fields: Any, source: Callable[[], Any]) -> RunSummary | None:
    try:
        return RunSummary.from_fields(fields, source)
    except (TypeError, ValueError):
        return None
