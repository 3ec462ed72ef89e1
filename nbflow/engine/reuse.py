"""Whether a step not selected may lend its latest result to the steps that need it.

``--steps``, ``--changed`` and the commit hook run some steps only; a selected step
that needs one not selected receives that step's outputs from the latest run where
it succeeded — but only when that result is what the step would produce now: its
fingerprint (resolved parameters, notebook source, declared inputs, the outputs of
the steps it needs: engine/fingerprint.py) equals the one it would have in this run,
and the files it declares under ``produces:`` are there. Otherwise the step runs
too, and the record says why (``its last result was for run_date=2026-12-02``).

Only the *latest* result counts, not an older one that happens to match: the files
on disk are the latest run's, and outputs that disagree with them are worse than
running the step again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nbflow.engine import fingerprint as fp
from nbflow.engine.cache import RunCache
from nbflow.engine.readiness import Readiness
from nbflow.engine.recorder import Recorder
from nbflow.engine.tasks import Tasks
from nbflow.errors import NbflowError
from nbflow.manifest.model import Step
from nbflow.plan import upstream
from nbflow.run_record import RUN_THOUGH_NOT_SELECTED, StepRecord, StepStatus
from nbflow.store import runs

log = logging.getLogger(__name__)

_SHOWN = 60  # characters of a parameter value shown in a reason


@dataclass(frozen=True)
class EarlierResult:
    """A step's latest done result, and the run it is in."""

    run_id: str
    step: StepRecord


class Lenders:
    """The steps not selected whose outputs selected steps use, each with its latest
    result (None: none), until it is decided whether that result stands in."""

    def __init__(
        self, readiness: Readiness, tasks: Tasks, cache: RunCache, recorder: Recorder
    ) -> None:
        self.readiness, self.tasks, self.cache, self.recorder = readiness, tasks, cache, recorder
        self.waiting: dict[str, EarlierResult | None] = {}

    def find(self, runs_dir: Path) -> None:
        """Look up the latest result of each step not selected that selected steps use."""
        workflow, selected = self.readiness.workflow, set(self.readiness.plan.selected)
        needed = upstream(workflow, selected) - selected
        needed -= {n for n in needed if self.recorder.step(n).status.is_done}
        if not needed:
            return
        found = runs.latest_results(runs_dir, workflow.name, needed)
        self.waiting = {n: EarlierResult(*found[n]) if n in found else None for n in needed}
        self.readiness.undecided = set(self.waiting)

    def decide(self) -> None:
        """Decide for each lender whose needs are satisfied (in plan order, so a chain
        of them is decided in one pass)."""
        if not self.waiting:
            return  # asked after every change of any step: nothing to walk
        readiness = self.readiness
        for step_id in readiness.plan.order:
            step = readiness.workflow.step(step_id)
            if step_id in self.waiting and all(readiness.is_satisfied(n) for n in step.needs):
                readiness.undecided.discard(step_id)
                self._lend_or_run(step, self.waiting.pop(step_id))

    def _lend_or_run(self, step: Step, earlier: EarlierResult | None) -> None:
        """Let ``earlier`` stand in for ``step`` when it is what the step would produce
        now; else add the step to the run, its record saying why."""
        current = self.recorder.step(step.id)
        try:
            task = self.tasks.task(step)
        except NbflowError:
            why: str | None = "its parameters cannot be resolved"  # the worker reports it
        else:
            fingerprint = self.cache.step_fingerprint(step, task)
            missing = fp.missing_files(task.cwd, task.produces)
            why = refusal(earlier, fingerprint, task.parameters, missing)
        if why is None and earlier is not None:
            self.tasks.lent[step.id] = earlier.step.outputs
            reason = f"not selected; outputs from run {earlier.run_id}"
            self.recorder.update(replace(current, reason=reason))
            return
        log.info("%s: run though not selected: %s", step.id, why)
        self.readiness.include(step.id)
        reason = f"{RUN_THOUGH_NOT_SELECTED}: {why}"
        self.recorder.update(replace(current, status=StepStatus.PENDING, reason=reason))


def refusal(
    earlier: EarlierResult | None,
    fingerprint: str | None,
    parameters: Mapping[str, Any],
    missing: Sequence[str] = (),
) -> str | None:
    """None when ``earlier`` may stand in for a step that would now have
    ``fingerprint`` and receive ``parameters``; else why the step runs (``missing``:
    the ``produces:`` globs that match no file)."""
    if earlier is None:
        return "no earlier run has a result of it"
    since = f"(run {earlier.run_id})"
    if fingerprint is None:
        return f"its inputs cannot be read to compare them with its last result {since}"
    if earlier.step.fingerprint != fingerprint:
        changed = _changed_parameters(earlier.step.parameters, parameters)
        if changed:
            return f"its last result was for {changed} {since}"
        return f"its notebook, inputs or upstream outputs changed since its last result {since}"
    if missing:
        return f"the files it produces are gone ({missing[0]} matches none) {since}"
    return None


def _changed_parameters(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """``run_date=2026-12-02, limit=3``: the earlier values of the parameters that differ."""
    names = [*before, *(n for n in now if n not in before)]
    return ", ".join(
        f"{name}={_show(before[name])}" if name in before else f"no {name}"
        for name in names
        if before.get(name, _ABSENT) != now.get(name, _ABSENT)
    )


_ABSENT = object()


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 1]}…"
