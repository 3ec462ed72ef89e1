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

import contextlib
import heapq
from collections.abc import Callable, Generator, Iterable, Sequence
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
    """Asks :func:`decide` about the pending steps of one run, again only about those
    whose needs changed.

    A pending step's decision is kept until a record it is made from changes: those
    of the steps it needs, and through a need that is skipped or not selected, those
    further up (:meth:`upstream` reads them). :meth:`changed` is told of each change
    (by the recorder, ``watch``); without ``watch``, each call compares every step's
    record with the one last seen. A pass walks, in plan order, only the steps whose
    decision may have changed and those decided to run that are still pending, so an
    executed step costs the decisions of its dependants, not of every pending step.
    """

    def __init__(
        self,
        workflow: Workflow,
        plan: Plan,
        records: Callable[[str], StepRecord],
        update: Callable[[StepRecord], None],
        watch: Callable[[Callable[[str], None]], None] | None = None,
    ) -> None:
        self.workflow, self.plan = workflow, plan
        self._records, self._update = records, update
        # steps not selected whose earlier result may stand in, until decided
        self.undecided: set[str] = set()
        self._undecided_seen: frozenset[str] = frozenset()
        self._position = {step_id: i for i, step_id in enumerate(plan.order)}
        dependants: dict[str, list[str]] = {step_id: [] for step_id in plan.order}
        for step in workflow.steps:
            for need in dict.fromkeys(step.needs):
                dependants[need].append(step.id)
        self._dependants = dependants
        self._decided: dict[str, Decision] = {}  # pending steps' decisions, while valid
        self._dirty: set[str] = set(plan.order)  # to be decided again
        # pending steps walked and decided to run, or to be skipped
        self._runnable: set[str] = set()
        self._skipping: set[str] = set()
        self._walk: _Walk | None = None  # the pass going on
        self._seen: dict[str, StepRecord] | None = {}  # without watch: the records last seen
        if watch is not None:
            watch(self.changed)
            self._seen = None

    def is_selected(self, step_id: str) -> bool:
        return step_id in self.plan.selected

    def include(self, step_id: str) -> None:
        """Run ``step_id`` though it was not selected (its earlier result cannot stand in)."""
        self.plan = replace(self.plan, selected=self.plan.selected | {step_id})
        self._decided.clear()
        self._dirty.update(self.plan.order)

    def changed(self, step_id: str) -> None:
        """``step_id``'s record changed (or whether it is undecided): decide again the
        steps needing it, and through those skipped or not selected, the steps
        needing them (their state as a need is made from their needs')."""
        self._mark(step_id)
        through, stack = {step_id}, [step_id]
        while stack:
            for dependant in self._dependants[stack.pop()]:
                self._mark(dependant)
                if dependant not in through and (
                    not self.is_selected(dependant)
                    or self._records(dependant).status is StepStatus.SKIPPED
                ):
                    through.add(dependant)
                    stack.append(dependant)

    def _mark(self, step_id: str) -> None:
        """Forget ``step_id``'s decision, and walk it again: in the pass going on when
        it comes after the step being asked, else in the next one."""
        self._decided.pop(step_id, None)
        walk, position = self._walk, self._position[step_id]
        if walk is not None and position > walk.current:
            walk.add(position)
        else:
            self._dirty.add(step_id)

    def _sync(self) -> None:
        """Take in the changes not told: every record, without ``watch``; and the steps
        that became undecided or were decided since the last call."""
        if self._seen is not None:
            for step_id in self.plan.order:
                record = self._records(step_id)
                if self._seen.get(step_id) is not record:
                    self._seen[step_id] = record
                    self.changed(step_id)
        if self.undecided != self._undecided_seen:
            for step_id in self.undecided ^ self._undecided_seen:
                self.changed(step_id)
            self._undecided_seen = frozenset(self.undecided)

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
        with contextlib.closing(self._pending(self._runnable, set(busy))) as pending:
            for step in pending:
                decision = self._decision(step)
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
        """The pending steps that the ``busy`` ones will make ready (kernels warm ahead):
        those decided to run, and those needing a busy one whose other needs are done."""
        self._sync()
        running = set(busy)
        near = self._runnable | self._skipping | self._dirty
        near.update(d for b in running if b in self._dependants for d in self._dependants[b])
        candidates = (
            self.workflow.step(step_id)
            for step_id in sorted(near, key=self._position.__getitem__)  # plan order
            if self.is_selected(step_id)
            and step_id not in running
            and self._records(step_id).status is StepStatus.PENDING
        )
        return [s for s in candidates if all(n in running or self.is_satisfied(n) for n in s.needs)]

    def skip_dependants(self) -> None:
        """Skip every pending step that :func:`decide` skips, until none is left."""
        changed = True
        while changed:
            changed = False
            with contextlib.closing(self._pending(self._skipping, set())) as pending:
                for step in pending:
                    decision = self._decision(step)
                    if decision.verdict is Verdict.SKIP:
                        current = self._records(step.id)
                        self._update(
                            replace(current, status=StepStatus.SKIPPED, reason=decision.reason)
                        )
                        changed = True

    def decision(self, step: Step) -> Decision:
        """:func:`decide` for ``step``; made again only when a record it is made from
        changed."""
        self._sync()
        return self._decision(step)

    def _decision(self, step: Step) -> Decision:
        kept = self._decided.get(step.id)
        if kept is None:
            kept = self._decided[step.id] = decide(step, [self.upstream(n) for n in step.needs])
        return kept

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

    def _pending(self, also: set[str], busy: set[str]) -> Generator[Step, None, None]:
        """The pending selected steps not ``busy`` among those to decide again and
        ``also`` (the steps decided to run, or to skip), in plan order, with those
        marked while the walk goes on that come after the step it is at; each one
        walked is kept as one to run or to skip by its decision once it was asked."""
        self._sync()
        walk = self._walk = _Walk(self._position[s] for s in self._dirty | also)
        self._dirty.clear()
        order, records, held = self.plan.order, self._records, []
        try:
            while (position := walk.next()) is not None:
                step_id = order[position]
                if not self.is_selected(step_id) or records(step_id).status != StepStatus.PENDING:
                    self._keep(step_id, None)
                    continue
                if step_id in busy:
                    held.append(step_id)  # asked again once it is not busy
                    continue
                step = self.workflow.step(step_id)
                yield step
                if self._seen is not None:
                    self._sync()  # what asking it changed, not told
                pending = records(step_id).status == StepStatus.PENDING
                self._keep(step_id, self._decision(step).verdict if pending else None)
        finally:
            self._walk = None
            self._dirty.update(held)
            self._dirty.update(order[p] for p in walk.left())

    def _keep(self, step_id: str, verdict: Verdict | None) -> None:
        """Remember a step walked as one to run or to skip (``verdict``; None: it is not
        pending any more), to be walked again by the passes that act on it."""
        for verdicts, kept in ((self._runnable, Verdict.RUN), (self._skipping, Verdict.SKIP)):
            if verdict is kept:
                verdicts.add(step_id)
            else:
                verdicts.discard(step_id)


class _Walk:
    """The positions (in plan order) a pass is still to visit, smallest first."""

    def __init__(self, positions: Iterable[int]) -> None:
        self._heap = list(set(positions))
        heapq.heapify(self._heap)
        self._queued = set(self._heap)
        self.current = -1

    def add(self, position: int) -> None:
        if position not in self._queued:
            self._queued.add(position)
            heapq.heappush(self._heap, position)

    def next(self) -> int | None:
        if not self._heap:
            return None
        self.current = heapq.heappop(self._heap)
        return self.current

    def left(self) -> list[int]:
        return self._heap
