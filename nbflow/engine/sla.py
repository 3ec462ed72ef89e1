"""SLAs while a run goes on: the workflow's ``sla:`` (from the moment this process
starts the run — a resumed run: from its resumption) and each step's (from when it
started, waiting for data included). Monotonic clocks: a run given a fixed or
logical start time, or a wall clock that jumps, measures the time it really took.

Design decisions:

- The run's loop calls :meth:`SlaWatch.check` on every turn (about twice a
  second); a miss is recorded once, the moment it is seen, and its notification is
  sent on a daemon thread, so a slow receiver never holds up the steps. Delivery is
  bounded (notify.py's timeouts); :meth:`SlaWatch.close` waits for the sends still
  going when the run ends, at most :data:`CLOSE_SECONDS`.
- A miss never changes an outcome: the run and the step go on, and a run that
  missed its SLA and then succeeded has succeeded. The record keeps the misses
  (``sla_misses`` in run.json, a section of the report).
- A step's clock starts the first time the loop sees it running (waiting for its
  ``wait_for:`` counts as running), not at its notebook's first attempt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace

from nbflow.manifest.model import Workflow
from nbflow.run_record import RunRecord, RunStatus, SlaMiss, StepStatus, utc_now

__all__ = ["CLOSE_SECONDS", "SlaWatch"]

CLOSE_SECONDS = 25.0


@dataclass
class SlaWatch:
    """The SLAs of one run; ``send`` delivers one miss (on a thread of its own)."""

    workflow: Workflow
    send: Callable[[RunRecord, SlaMiss], object]
    missed: set[str | None] = field(default_factory=set)  # None: the run
    step_started: dict[str, float] = field(default_factory=dict)  # monotonic
    threads: list[threading.Thread] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)  # the run's clock

    #: the steps with an SLA, and their limits and places in the workflow's order
    limits: dict[str, tuple[int, float]] = field(init=False)

    def __post_init__(self) -> None:
        steps = enumerate(self.workflow.steps)
        self.limits = {s.id: (i, s.sla) for i, s in steps if s.sla is not None}

    @property
    def active(self) -> bool:
        """Whether the workflow or any step has an SLA."""
        return self.workflow.sla is not None or bool(self.limits)

    def check(
        self, record: RunRecord, waiting: Collection[str] = (), running: Collection[str] = ()
    ) -> RunRecord:
        """``record`` with the misses first seen now added (each notified once), looking
        only at the steps ``running`` and ``waiting`` for their paths (which counts as
        running): a turn of the loop costs the steps going on, not every step."""
        if not self.active or record.status != RunStatus.RUNNING:
            return record
        new: list[SlaMiss] = []
        sla = self.workflow.sla
        now = time.monotonic()
        if sla is not None and None not in self.missed and now - self.started > sla:
            new.append(SlaMiss(None, sla, utc_now()))
        going = {s for s in (*running, *waiting) if s in self.limits and s not in self.missed}
        for step_id in sorted(going, key=self.limits.__getitem__):  # the workflow's order
            status = record.step(step_id).status
            if status != StepStatus.RUNNING and step_id not in waiting:
                continue
            limit = self.limits[step_id][1]
            started = self.step_started.setdefault(step_id, now)
            if now - started > limit:
                new.append(SlaMiss(step_id, limit, utc_now()))
        if not new:
            return record
        self.missed.update(m.step for m in new)
        updated = replace(record, sla_misses=(*record.sla_misses, *new))  # frozen: sends keep it
        for miss in new:
            thread = threading.Thread(
                target=self.send, args=(updated, miss), name="sla-notify", daemon=True
            )
            thread.start()
            self.threads.append(thread)
        return updated

    def close(self) -> None:
        """Wait (bounded) for notifications still being sent."""
        deadline = time.monotonic() + CLOSE_SECONDS
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
