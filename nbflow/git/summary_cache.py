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

A fresh clone (every CI run) has no cache, so the committed index of each workflow
(git/summary_index.py, also keyed by blob id) comes first: a committed record's
summary is taken from it, and so is a working-tree record's when git tracks it
unchanged (``git ls-files``: its blob id is then the one in git's index). The few
records it leaves out (up to :data:`FEW`: the run being committed, a new run folder)
are read; the cache is read only when it leaves out more (runs committed before the
index existed, or by hand).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbflow.errors import StoreError, WriteError
from nbflow.git import summary_index
from nbflow.git.commands import Git
from nbflow.git.summary_index import INDEX_FILE
from nbflow.run_summary import RunSummary
from nbflow.store.runs import RECORD_FILE, read_json, write_atomic

log = logging.getLogger(__name__)

CACHE_FILE = "nbflow/summaries.json"  # under the git dir
VERSION = 1
RACY_SECONDS = 3
LIMIT = 200_000  # entries; beyond it only those used by the last listing are kept
FEW = 32  # records a committed index leaves out that are read without the cache


class Summaries:
    """Summaries of the run records of one repository, read from the committed
    indexes, else through the cache; call :meth:`save` once done."""

    def __init__(self, git: Git) -> None:
        self.git = git
        self.path = git.git_path(CACHE_FILE)
        self._cache: tuple[dict[str, Any], dict[str, Any]] | None = None  # read when needed
        self._used_blobs: dict[str, Any] = {}
        self._used_files: dict[str, Any] = {}
        self._added = False
        self._indexed: summary_index.Entries = {}  # from committed indexes
        self._indexes: list[str] = []  # committed indexes to read when needed
        self._tracked: dict[str, str] = {}  # working-tree record: its blob id
        self._direct = 0  # records an index left out, read without the cache

    def track(self, runs_dir: Path, workflow: str | None) -> None:
        """Learn the blob ids of the records under ``runs_dir`` (of ``workflow``, or
        all) that git tracks and that are unchanged in the work tree (``git ls-files
        -m`` compares a racily clean file's content, as ``git status`` does), and
        where their workflows' indexes are in git's index (the work tree's copy of an
        index need not be unchanged: its lines are checked one by one)."""
        try:
            rel = self.git.relative(runs_dir)
            prefix = "" if rel == "." else f"{rel}/"
            where = f":(top,glob){glob.escape(prefix)}{glob.escape(workflow or '') or '*'}"
            specs = [f"{where}/*/{RECORD_FILE}", f"{where}/{INDEX_FILE}"]
            # Every entry tagged H, and again tagged C when the work tree's file differs.
            listed = self.git.run("ls-files", "-t", "-c", "-m", "-s", "-z", "--", *specs)
        except StoreError as exc:
            log.debug("tracked run records not listed: %s", exc)
            return
        entries = listed.split("\0")
        changed = {e.partition("\t")[2] for e in entries if not e.startswith("H ")}
        for entry in entries:
            meta, _, path = entry.partition("\t")
            tag, mode, blob, stage = (meta.split() + ["", "", "", ""])[:4]
            if tag != "H" or stage != "0" or mode not in ("100644", "100755"):
                continue
            if not path.endswith(f"/{RECORD_FILE}"):
                self._indexes.append(blob)
            elif path not in changed:
                self._tracked[os.path.join(runs_dir, path[len(prefix) :])] = blob

    def of_folder(self, folder: Path) -> RunSummary:
        """The summary of the ``run.json`` in ``folder``: OSError, KeyError,
        ValueError or TypeError (as reading it does) when it cannot be read."""
        key = os.path.join(folder, RECORD_FILE)  # not a Path: 10,000 of them cost
        blob = self._tracked.get(key)
        if blob is not None:
            found = self._from_index(blob, lambda: read_json(folder))
            if found is not None:
                return found
        if self._direct < FEW and self._index():  # an index has the others
            self._direct += 1
            return RunSummary.from_json(read_json(folder))
        blobs, files = self._cached()
        if blob is not None and (found := self._of_blob(blob, lambda: read_json(folder))):
            return found
        stat = os.stat(key)
        entry = files.get(key)
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
        return [(path, summary) for path, _, summary in self.records(rev, folder, wanted)]

    def records(
        self, rev: str, folder: str, wanted: Callable[[str], bool] | None = None
    ) -> list[tuple[str, str, RunSummary | None]]:
        """:meth:`committed`'s records, each with its blob id: from the indexes of
        their workflows at ``rev``, else from the cache (when the indexes left out more
        than :data:`FEW`), else read."""
        found = self.git.blobs_named(rev, folder, RECORD_FILE, wanted)
        workflows = {path.rsplit("/", 2)[0] for path, _ in found}  # wf/run-id/run.json
        self._indexes += [f"{rev}:{w}/{INDEX_FILE}" for w in sorted(workflows)]
        summaries: dict[str, RunSummary | None] = {}
        unread = []
        for path, blob in found:
            summary = self._from_index(blob, self._reader(blob))
            if summary is not None:
                summaries[path] = summary
            else:
                unread.append((path, blob))
        cache = len(unread) > FEW or (bool(unread) and not self._index())
        if cache:
            blobs, _ = self._cached()
            left = []
            for path, blob in unread:
                if blob in blobs and blobs[blob] is None:
                    self._used_blobs[blob] = None  # known to be unreadable
                    summaries[path] = None
                elif (summary := self._of_blob(blob, self._reader(blob))) is not None:
                    summaries[path] = summary
                else:
                    left.append((path, blob))
            unread = left
        for (path, blob), data in zip(
            unread, self.git.read_blobs([b for _, b in unread]), strict=True
        ):
            try:
                summary = RunSummary.from_json(json.loads(data.decode("utf-8")))
            except (KeyError, ValueError, TypeError) as exc:
                log.debug("%s: unreadable committed run record: %s", path, exc)
                summary = None
            summaries[path] = summary
            if cache:
                self._used_blobs[blob] = summary and summary.fields()
                self._added = True
        return [(path, blob, summaries[path]) for path, blob in found]

    def line(self, blob: str, summary: RunSummary) -> str:
        """The committed index's line for the record ``blob`` summarised as ``summary``:
        the line read from an index when it says the same."""
        fields = summary.fields()
        entry = self._indexed.get(blob)
        return entry[1] if entry and entry[0] == fields else summary_index.line(blob, fields)

    def _from_index(self, blob: str, source: Callable[[], Any]) -> RunSummary | None:
        """The summary of the record ``blob`` from a committed index, or None."""
        entry = self._index().get(blob)
        return None if entry is None else _summary(entry[0], source)

    def _index(self) -> summary_index.Entries:
        """The entries of the committed indexes found so far (read when first needed)."""
        if self._indexes:
            names, self._indexes = self._indexes, []
            for data in self.git.read_objects(names):
                self._indexed.update(summary_index.parse(data or b""))
        return self._indexed

    def _cached(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self._cache is None:
            self._cache = _load(self.path)
        return self._cache

    def _of_blob(self, blob: str, source: Callable[[], Any]) -> RunSummary | None:
        """The summary of the record ``blob`` from the cache, or None."""
        fields = self._cached()[0].get(blob)
        if fields is None or (summary := _summary(fields, source)) is None:
            return None
        self._used_blobs[blob] = fields
        return summary

    def _reader(self, blob: str) -> Callable[[], Any]:
        return lambda: json.loads(self.git.read_blobs([blob])[0].decode("utf-8"))

    def save(self) -> None:
        """Write the cache when this listing added to it; nothing (but a debug
        message) when it cannot be written."""
        if not self._added:
            return
        cached_blobs, cached_files = self._cached()
        blobs = {**cached_blobs, **self._used_blobs}
        files = {**cached_files, **self._used_files}
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
