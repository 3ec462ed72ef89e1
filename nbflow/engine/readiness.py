"""What may run next: which pending steps are ready, which must wait, which are
skipped and why.

One function decides for one step: :func:`decide` is given the state of each step
it needs (:class:`Upstream`, with its outcome for trigger rules) and answers run,
skip (with the reason the record shows) or wait, by the step's ``run_if:``
(engine/trigger_rules.py has the table). :class:`Readiness` only gathers those
states from the run's record and applies the answers; a step's ``if:`` and
``wait_for:`` come after it runs it (engine/gates.py).

A step not selected (``--steps``, ``--changed``) stands for the steps it needs: it
is satisfied once they are, and stopped when a selected step upstream of it
failed, was skipped or cancelled — a selected step upstream must finish first,
since it may make the files the unselected step stands for. One whose earlier
result may stand in (engine/reuse.py) waits until that is decided.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from nbflow.engine import trigger_rules
from nbflow.engine.trigger_rules import Outcome, skipped_outcome
from nbflow.manifest.model import Step, Workflow
from nbflow.plan import Plan
from nbflow.run_record import StepRecord, StepStatus

#: A selected step in one of these states stops the steps that need it.
STOPPED = (StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED)


class NeedState(Enum):
    DONE = "done"  # its outputs are there (succeeded, cached, or lent)
    STOPPED = "stopped"  # it, or a selected step it stands for, failed, was skipped or cancelled
    WAITING = "waiting"  # neither yet


@dataclass(frozen=True)
class Upstream:
    """One step a step needs, as readiness sees it."""

    step_id: str
    state: NeedState
    stopped_by: str = ""  # STOPPED: the selected step that stopped (it, or one upstream)
    status: StepStatus | None = None  # STOPPED: that step's status
    #: what it means to a trigger rule; None: read from ``state`` and ``status``
    outcome: Outcome | None = None

    @property
    def rule_outcome(self) -> Outcome:
        if self.outcome is not None:
            return self.outcome
        if self.state is NeedState.DONE:
            return Outcome.SUCCEEDED
        if self.state is NeedState.STOPPED and self.status is not None:
            return Outcome(self.status.value)
        return Outcome.PENDING


class Verdict(Enum):
    RUN = "run"
    SKIP = "skip"
    WAIT = "wait"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""  # SKIP: why, as the record says it; RUN: why, under a run_if rule


def decide(step: Step, needs: Sequence[Upstream]) -> Decision:
    """Whether ``step``, pending, runs now, is skipped (and why) or waits, given the
    states of the steps it needs (in ``step.needs`` order), by its ``run_if:``. A
    need stopped through steps not selected is named by the step that stopped."""
    outcomes = {(n.stopped_by or n.step_id): n.rule_outcome for n in needs}
    statuses = {(n.stopped_by or n.step_id): n.status.value for n in needs if n.status}
    answer = trigger_rules.decide(step.run_if, outcomes, statuses)
    if answer is None:
        return Decision(Verdict.WAIT)
    return Decision(Verdict.RUN if answer.run else Verdict.SKIP, answer.reason)


class Readiness:
    """Asks :func:`decide` about the pending steps of one run."""

    def __init__(
        self,
        workflow: Workflow,
        plan: Plan,
        records: Callable[[str], StepRecord],
        update: Callable[[StepRecord], None],
    ) -> None:
        self.workflow, self.plan = workflow, plan
        self._steps = plan.steps  # asked for on every pass: made once per plan
        self._records, self._update = records, update
        # steps not selected whose earlier result may stand in, until decided
        self.undecided: set[str] = set()
        # each pending step's last decision, with the records of its needs it was made from
        self._decided: dict[str, tuple[tuple[StepRecord, ...], Decision]] = {}

    def is_selected(self, step_id: str) -> bool:
        return step_id in self.plan.selected

    def include(self, step_id: str) -> None:
        """Run ``step_id`` though it was not selected (its earlier result cannot stand in)."""
        self.plan = replace(self.plan, selected=self.plan.selected | {step_id})
        self._steps = self.plan.steps
        self._decided.clear()

    def ready(
        self,
        busy: Iterable[str],
        settle: Callable[[Step], bool] | None = None,
        admit: Callable[[Step], bool] | None = None,
    ) -> list[Step]:
        """The pending steps, not among ``busy``, that run now, in plan order; a rule's
        reason for running one goes into its record. Each one ``admit`` holds back
        (its gates: a false condition, a wait; engine/gates.py) or ``settle`` answers
        (the cache: True when it recorded the step done) is left out, and as the order
        is the plan's, the steps needing it are asked after it in the same pass: a
        chain of cached steps settles in one pass, not one per step."""
        self.skip_dependants()  # a rule may skip a step before anything ran (a piece)
        ready = []
        for step in self._pending(busy):
            decision = self.decision(step)
            if decision.verdict is not Verdict.RUN:
                continue
            self._note(step.id, decision.reason)
            if admit and not admit(step):
                continue
            if not (settle and settle(step)):
                ready.append(step)
        return ready

    def _note(self, step_id: str, reason: str) -> None:
        """Add a rule's reason for running a step to its record (once)."""
        current = self._records(step_id)
        if reason and reason not in current.reason:
            joined = f"{current.reason}; {reason}" if current.reason else reason
            self._update(replace(current, reason=joined))

    def soon(self, busy: Iterable[str]) -> list[Step]:
        """The pending steps that the ``busy`` ones will make ready (kernels warm ahead)."""
        running = set(busy)
        return [
            step
            for step in self._pending(running)
            if all(n in running or self.is_satisfied(n) for n in step.needs)
        ]

    def skip_dependants(self) -> None:
        """Skip every pending step that :func:`decide` skips, until none is left."""
        changed = True
        while changed:
            changed = False
            for step in self._pending(()):
                decision = self.decision(step)
                if decision.verdict is Verdict.SKIP:
                    current = self._records(step.id)
                    self._update(
                        replace(current, status=StepStatus.SKIPPED, reason=decision.reason)
                    )
                    changed = True

    def decision(self, step: Step) -> Decision:
        """:func:`decide` for ``step``; made again only when the records it is made from
        changed (a run asks about every pending step after each change of any step)."""
        needs = self._need_records(step)
        kept = self._decided.get(step.id)
        if kept is not None and needs is not None and kept[0] == needs:
            return kept[1]
        decision = decide(step, [self.upstream(n) for n in step.needs])
        if needs is not None:
            self._decided[step.id] = (needs, decision)
        return decision

    def _need_records(self, step: Step) -> tuple[StepRecord, ...] | None:
        """The records of the steps ``step`` needs, when its decision depends on them
        alone (each selected and not skipped: a skipped need's outcome and the state
        of a need not selected depend on the steps further up); else None."""
        records = tuple(self._records(n) for n in step.needs)
        for need, record in zip(step.needs, records, strict=True):
            if record.status is StepStatus.SKIPPED or not self.is_selected(need):
                return None
        return records

    def is_satisfied(self, need: str) -> bool:
        """Whether a step needing ``need`` may start, as far as ``need`` goes."""
        return self.upstream(need).state is NeedState.DONE

    def upstream(self, need: str) -> Upstream:
        """The state of ``need`` as the steps needing it see it."""
        status = self._records(need).status
        if status.is_done:
            return Upstream(need, NeedState.DONE, outcome=Outcome.SUCCEEDED)
        if self.is_selected(need):
            if status in STOPPED:
                return Upstream(need, NeedState.STOPPED, need, status, self._outcome(need))
            return Upstream(need, NeedState.WAITING)
        stands_for = [self.upstream(n) for n in self.workflow.step(need).needs]
        for state in stands_for:
            if state.state is NeedState.STOPPED:
                return replace(state, step_id=need)
        if need in self.undecided or any(s.state is not NeedState.DONE for s in stands_for):
            return Upstream(need, NeedState.WAITING)
        return Upstream(need, NeedState.DONE, outcome=Outcome.SUCCEEDED)

    def _outcome(self, step_id: str) -> Outcome:
        """A stopped selected step's outcome: a skip after a failure upstream counts
        as a failure (engine/trigger_rules.py)."""
        record = self._records(step_id)
        if record.status is StepStatus.SKIPPED:
            needs = {n: self.upstream(n).rule_outcome for n in self.workflow.step(step_id).needs}
            return skipped_outcome(record.reason, needs)
        return Outcome.FAILED if record.status is StepStatus.FAILED else Outcome.CANCELLED

    def _pending(self, busy: Iterable[str]) -> list[Step]:
        running, records = set(busy), self._records
        return [
            step
            for step in self._steps
            if records(step.id).status == StepStatus.PENDING and step.id not in running
        ]
