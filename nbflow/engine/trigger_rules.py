"""Trigger rules (``run_if:``): from the outcomes of the steps a step needs, whether it
runs, is skipped, or must wait — and the reason its record gives.

Design decisions:

- A need's *outcome* folds its status: ``cached`` counts as succeeded; a step
  skipped because a failure upstream stopped it counts as **failed** (Airflow's
  ``upstream_failed``), so ``any_failed`` sees a failure through a chain of skipped
  steps and ``none_failed`` does not run after one; a step skipped on its own (its
  ``if:`` was false, or ``any_failed`` found nothing to report) counts as
  **skipped**. A ``cancelled`` need skips the step whatever its rule (a run whose
  pieces went missing; an interrupted run cancels every step anyway).
- ``all_succeeded`` and ``none_failed`` decide as soon as one need settles it (a
  failure skips the step at once); ``all_done`` and ``any_failed`` wait until every
  need is final.
- Under the default rule a step that runs gets no reason (everything it needs
  succeeded); under any other rule, the reason says why it ran. A skip always
  says why. The run's status is computed from every step (engine runner): an
  ``all_done`` or ``any_failed`` step succeeding never hides the failure it ran after.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from nbflow.manifest.model import RunIf

__all__ = ["CONDITION_FALSE", "Decision", "Outcome", "decide", "skipped_outcome"]

#: How the reason of a step skipped by a false ``if:`` starts.
CONDITION_FALSE = "condition false"


class Outcome(StrEnum):
    """What a finished (or unfinished) need means to a trigger rule."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    PENDING = "pending"  # pending or running: not decided yet
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Decision:
    """Run the step, or skip it; ``reason`` goes into its record."""

    run: bool
    reason: str = ""


def skipped_outcome(reason: str, needs: Mapping[str, Outcome]) -> Outcome:
    """The outcome of a skipped step, from its reason and its needs' outcomes: failed
    when a failure upstream stopped it, else skipped."""
    if reason.startswith(CONDITION_FALSE):
        return Outcome.SKIPPED
    return Outcome.FAILED if Outcome.FAILED in needs.values() else Outcome.SKIPPED


def decide(
    rule: RunIf, needs: Mapping[str, Outcome], statuses: Mapping[str, str] | None = None
) -> Decision | None:
    """Whether a step with ``rule`` runs given its ``needs``' outcomes (in ``needs:``
    order); None while that is not known yet. ``statuses``: each need's status as
    the reason names it (default: its outcome)."""
    said = {n: (statuses or {}).get(n, o.value) for n, o in needs.items()}
    cancelled = next((n for n, o in needs.items() if o is Outcome.CANCELLED), None)
    if cancelled and rule is not RunIf.ALL_SUCCEEDED:
        return Decision(False, f"needs '{cancelled}', which cancelled")
    failed = [n for n, o in needs.items() if o is Outcome.FAILED]
    skipped = [n for n, o in needs.items() if o is Outcome.SKIPPED]
    pending = any(o is Outcome.PENDING for o in needs.values())
    if rule is RunIf.ALL_SUCCEEDED:
        stopped = next((n for n in needs if n in failed or n in skipped or n == cancelled), None)
        if stopped:
            return Decision(False, f"needs '{stopped}', which {said[stopped]}")
        return None if pending else Decision(True)
    told = {n: _told(said[n], needs[n]) for n in needs}  # "skipped after a failure"
    if rule is RunIf.NONE_FAILED:
        if failed:
            first = failed[0]
            return Decision(False, f"run_if none_failed: needs '{first}', which {told[first]}")
        if pending:
            return None
        return Decision(True, f"run_if none_failed: none failed{_listed(skipped, told)}")
    if pending:
        return None
    if rule is RunIf.ALL_DONE:
        what = _listed(failed + skipped, told)
        return Decision(True, f"run_if all_done: every step it needs is done{what}")
    if failed:
        return Decision(True, f"run_if any_failed: {_each(failed, told)}")
    return Decision(False, "run_if any_failed: no step it needs failed")


def _told(status: str, outcome: Outcome) -> str:
    """A need's status as a rule's reason tells it."""
    return (
        f"{status} after a failure" if outcome is Outcome.FAILED and status != "failed" else status
    )


def _listed(steps: list[str], told: Mapping[str, str]) -> str:
    return f"; {_each(steps, told)}" if steps else ""


def _each(steps: list[str], told: Mapping[str, str]) -> str:
    return ", ".join(f"'{s}' {told[s]}" for s in steps)
