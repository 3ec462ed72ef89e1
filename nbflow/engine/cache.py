"""Find an earlier result of a step by its fingerprint, and reuse it.

The run records are the cache: a step (or an item of a ``foreach:`` step) whose
fingerprint equals that of a step or item which succeeded (or was itself cached) in
an earlier run of the same workflow is not executed; the new run copies that run's
executed notebook, so every run folder is complete on its own, and records where it
came from (``cached_from``). Records are read newest first and only as far as
needed, so a rerun where nothing changed reads one earlier record.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nbflow.engine import fingerprint as fp
from nbflow.engine.recorder import Recorder
from nbflow.engine.step_task import StepTask
from nbflow.engine.tasks import Tasks
from nbflow.errors import NbflowError
from nbflow.manifest.model import Step, Workflow
from nbflow.run_record import ExecutionRecord, ItemRecord, StepStatus, utc_now
from nbflow.store import runs

log = logging.getLogger(__name__)


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


class RunCache:
    """The cache as one run uses it: fingerprints, and the steps and items it answers."""

    def __init__(
        self,
        workflow: Workflow,
        tasks: Tasks,
        recorder: Recorder,
        store: StepCache,
        *,
        enabled: bool,
        forced: Callable[[str], bool],
    ) -> None:
        self.workflow, self.tasks, self.recorder, self.store = workflow, tasks, recorder, store
        self.enabled = enabled  # for steps whose manifest leaves `cache` unset
        self.forced = forced  # executed whatever the cache holds
        self.fingerprints: dict[str, str | None] = {}  # computed before a step executes
        self.missed: set[str] = set()  # looked up, not found

    def settle(self, step: Step) -> bool:
        """Record ``step`` as cached when an earlier run has its fingerprint (a
        foreach step: its items are looked up when it expands)."""
        if step.is_sweep or not self.is_cacheable(step):
            return False
        try:
            task = self.tasks.task(step)
        except NbflowError:
            return False  # the worker reports it
        fingerprint = self.step_fingerprint(step, task)
        reused = self._reused(fingerprint, task)
        if reused is None:
            self.missed.add(step.id)
            return False
        current = self.recorder.step(step.id)
        self.recorder.update(replace(current, parameters=dict(task.parameters), **reused))
        return True

    def items(
        self, step: Step, items: Sequence[ItemRecord], tasks: Sequence[StepTask]
    ) -> tuple[ItemRecord, ...]:
        """``items``, each with its fingerprint; those an earlier run has, cached."""
        cacheable, needs = self.is_cacheable(step), self._needs_digests(step)
        result = []
        for item, task in zip(items, tasks, strict=True):
            if not item.status.is_done:
                fingerprint = self.fingerprint(step, task, needs)
                reused = self._reused(fingerprint, task) if cacheable else None
                item = replace(item, **(reused or {"fingerprint": fingerprint}))
            result.append(item)
        return tuple(result)

    def _reused(self, fingerprint: str | None, task: StepTask) -> dict[str, Any] | None:
        """The fields of a cached step or item, its earlier notebook copied to
        ``task.output``; None when no earlier run has ``fingerprint``."""
        hit = self.store.find(fingerprint) if fingerprint else None
        if hit is None:
            return None
        if gone := fp.missing_files(task.cwd, task.produces):
            log.info("%s: executing it again: its files are gone (%s)", task.step_id, gone[0])
            return None
        try:
            hit.copy_to(task.output)
        except OSError as exc:
            log.warning("%s: cannot reuse %s, executing it: %s", task.step_id, hit.cached_from, exc)
            return None
        now = utc_now()
        return {
            "status": StepStatus.CACHED,
            "notebook": task.output.name,
            "start": now,
            "end": now,
            "duration": 0.0,
            "outputs": dict(hit.outputs),
            "fingerprint": fingerprint,
            "cached_from": hit.cached_from,
            "reason": f"unchanged since run {hit.cached_from.partition('/')[0]}",
        }

    def is_cacheable(self, step: Step) -> bool:
        enabled = self.enabled if step.cache is None else step.cache
        return enabled and not self.forced(step.id) and step.id not in self.missed

    def is_worth_warming(self, step: Step, busy: set[str]) -> bool:
        """A step the cache may answer gets a kernel only once a step it needs executes."""
        if not self.is_cacheable(step):
            return True
        return any(
            n in busy or self.recorder.step(n).status == StepStatus.SUCCEEDED for n in step.needs
        )

    def step_fingerprint(self, step: Step, task: StepTask) -> str | None:
        """The fingerprint of ``step`` (executing as ``task``), remembered."""
        fingerprint = self.fingerprints[step.id] = self.fingerprint(step, task)
        return fingerprint

    def known_fingerprint(self, step: Step, task: StepTask) -> str | None:
        """The fingerprint computed before ``step`` was handed out, else computed now."""
        if step.id in self.fingerprints:
            return self.fingerprints[step.id]
        return self.fingerprint(step, task)

    def _needs_digests(self, step: Step) -> dict[str, str]:
        """The digests of the outputs of the steps ``step`` needs (its fingerprint's
        ``needs``, the same for every item of a foreach step)."""
        return {n: fp.outputs_digest(self.tasks.outputs_of(n)) for n in step.needs}

    def fingerprint(
        self, step: Step, task: StepTask, needs: Mapping[str, str] | None = None
    ) -> str | None:
        """The fingerprint of ``task`` (a step, or an item of one) given ``needs`` (from
        ``_needs_digests``); None (never cached) when an input cannot be read."""
        needs = self._needs_digests(step) if needs is None else needs
        try:
            return fp.step_fingerprint(
                notebook=fp.notebook_digest(task.notebook),
                kernel=step.kernel,
                parameters=task.parameters,
                needs=needs,
                inputs=fp.input_digests(self.workflow.directory, task.inputs),
            )
        except (OSError, ValueError) as exc:
            log.warning("%s: no fingerprint, the step will not be cached: %s", step.id, exc)
            return None
