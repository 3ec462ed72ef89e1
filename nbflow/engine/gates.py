"""A step's gates, once its ``run_if`` lets it run: its ``if:`` condition, then its
``wait_for:`` paths.

Design decisions:

- The loop asks :meth:`Gates.admit` about each step readiness runs, before the
  cache is looked up (a step whose condition is false is skipped even if an
  earlier result is cached). The condition is decided once per run of the step;
  false skips it (reason ``condition false: …`` with the values read), and one
  that cannot be evaluated fails it (error ``ConditionError``), never a quiet skip.
- A waiting step stays ``pending``, with the reason ``waiting for: <paths still
  missing>``, and is watched off the worker pool (engine/waiting.py): the loop keeps
  turning while a step waits, other ready steps run meanwhile, and a step whose
  paths appeared runs when a worker is free. At its timeout it fails with the error
  ``WaitTimeout`` naming what never appeared. :meth:`stop` ends every watch (the run
  is cancelled).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from nbflow.engine.trigger_rules import CONDITION_FALSE
from nbflow.engine.waiting import Watch
from nbflow.manifest.expressions import Context, ExpressionError, resolve
from nbflow.manifest.model import Step
from nbflow.report.run_report import format_duration
from nbflow.run_record import StepError, StepRecord, StepStatus, utc_now

__all__ = ["Gates"]

log = logging.getLogger(__name__)


@dataclass
class Gates:
    """The gates of one run's steps. ``context`` gives what a step's expressions read
    (its upstream outputs included) once the steps it needs have finished."""

    base: Path  # the workflow folder: relative wait_for paths start there
    context: Callable[[Step], Context]
    records: Callable[[str], StepRecord]
    update: Callable[[StepRecord], None]
    admitted: set[str] = field(default_factory=set)
    watches: dict[str, Watch] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # the reason before waiting

    @property
    def waiting(self) -> set[str]:
        """The steps waiting for their paths."""
        return set(self.watches)

    def admit(self, step: Step) -> bool:
        """Whether ``step``, which readiness runs, may execute now; records a false or
        failing condition, a wait starting or timing out."""
        if step.id in self.admitted:
            return True
        if step.id not in self.watches:
            if step.condition is not None and not self._holds(step, step.condition):
                return False
            if step.wait_for is None:
                self.admitted.add(step.id)
                return True
            if not self._start_waiting(step):
                return False
        return self._check_wait(step)

    def stop(self) -> None:
        for watch in self.watches.values():
            watch.stop()

    def _holds(self, step: Step, text: str) -> bool:
        from nbflow.manifest.conditions import evaluate, parse_condition, shown_values  # `if:`

        current = self.records(step.id)
        try:
            condition = parse_condition(text)
            context = self.context(step)
            if evaluate(condition, context):
                return True
        except ExpressionError as exc:
            self._fail(current, "ConditionError", f"if: {text}: {exc}", "")
            return False
        reason = f"{CONDITION_FALSE}: {text} ({shown_values(condition, context)})"
        log.info("%s: skipped: %s", step.id, reason)
        self.update(replace(current, status=StepStatus.SKIPPED, reason=reason))
        return False

    def _start_waiting(self, step: Step) -> bool:
        assert step.wait_for is not None
        current = self.records(step.id)
        try:
            context = self.context(step)
            paths = tuple(str(resolve(p, context)) for p in step.wait_for.paths)
        except ExpressionError as exc:
            self._fail(current, "ExpressionError", f"wait_for: {exc}", "")
            return False
        wait = step.wait_for
        self.reasons[step.id] = current.reason
        self.watches[step.id] = Watch(step.id, paths, self.base, wait.timeout, wait.every).start()
        log.info(
            "%s: waiting for %s (up to %s)",
            step.id,
            ", ".join(paths),
            format_duration(wait.timeout),
        )
        return True

    def _check_wait(self, step: Step) -> bool:
        watch = self.watches[step.id]
        current = self.records(step.id)
        before = self.reasons[step.id]
        if watch.ready:
            del self.watches[step.id]
            self.admitted.add(step.id)
            # found at the first look: nothing waited for, nothing to say
            waited = (
                f"waited {watch.waited:.1f} s for its wait_for paths" if watch.checks > 1 else ""
            )
            self._say(current, before, waited)
            return True
        if watch.error or watch.timed_out:
            del self.watches[step.id]
            watch.stop()
            if watch.error:
                self._fail(current, "WaitError", watch.error, "", watch.waited)
            else:
                missing = ", ".join(watch.missing)
                timeout = format_duration(watch.timeout)
                why = f"wait_for: timed out after {timeout}; never appeared: {missing}"
                self._fail(current, "WaitTimeout", why, why, watch.waited)
            return False
        self._say(current, before, f"waiting for: {', '.join(watch.missing)}")
        return False

    def _say(self, current: StepRecord, before: str, note: str) -> None:
        """The step's reason: what it said before the wait, then ``note`` (if any)."""
        reason = "; ".join(part for part in (before, note) if part)
        if current.reason != reason:
            self.update(replace(current, reason=reason))

    def _fail(
        self, current: StepRecord, ename: str, message: str, reason: str, seconds: float = 0.0
    ) -> None:
        log.info("%s: failed: %s", current.id, message)
        end = utc_now()
        self.update(
            replace(
                current,
                status=StepStatus.FAILED,
                error=StepError(ename, message),
                reason=reason,
                start=current.start or end,
                end=end,
                duration=round(seconds, 3),
            )
        )
