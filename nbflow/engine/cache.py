"""Find an earlier result of a step by its fingerprint, and reuse it.

The run records are the cache: a step (or an item of a ``foreach:`` step) whose
fingerprint equals that of a step or item which succeeded (or was itself cached) in
an earlier run of the same workflow is not executed; the new run copies that run's
executed notebook, so every run folder is complete on its own, and records where it
came from (``cached_from``). Records are read newest first and only as far as
needed, so a rerun where nothing changed reads one earlier record.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.run_record import ExecutionRecord
from nbflow.store import runs


@dataclass(frozen=True)
class CacheHit:
    run_id: str  # the run whose folder holds the notebook to copy
    outputs: dict[str, Any]  # what the step or item recorded
    notebook: Path  # the executed notebook to copy
    cached_from: str  # "<run-id>/<step>.ipynb": the run that executed it

    def copy_to(self, path: Path) -> None:
        """Copy the reused notebook to ``path`` (through a temporary file)."""
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.copyfile(self.notebook, tmp)
        tmp.replace(path)


class StepCache:
    """Earlier results of one workflow's steps, by fingerprint."""

    def __init__(self, runs_dir: Path, workflow: str, current_run: str) -> None:
        self.runs_dir, self.workflow, self.current_run = runs_dir, workflow, current_run
        self._index: dict[str, CacheHit] = {}
        self._unread: Iterator[Path] | None = None

    def find(self, fingerprint: str) -> CacheHit | None:
        """The newest earlier result with ``fingerprint``, or None."""
        if fingerprint in self._index:
            return self._index[fingerprint]
        if self._unread is None:
            self._unread = runs.run_dirs_newest_first(self.runs_dir, self.workflow)
        for folder in self._unread:
            if folder.name != self.current_run:
                self._read(folder)
            if fingerprint in self._index:
                return self._index[fingerprint]
        return None

    def _read(self, folder: Path) -> None:
        try:
            record = runs.read_record(folder)
        except (OSError, ValueError, KeyError, TypeError):
            return
        results: list[ExecutionRecord] = [*record.steps]
        results += [item for step in record.steps for item in step.items]
        for result in results:
            if not (result.fingerprint and result.status.is_done and result.notebook):
                continue
            notebook = folder / result.notebook
            if result.fingerprint in self._index or not notebook.is_file():
                continue  # a newer run already has it, or its notebook is gone
            origin = result.cached_from or f"{record.run_id}/{result.notebook}"
            hit = CacheHit(record.run_id, dict(result.outputs), notebook, origin)
            self._index[result.fingerprint] = hit
