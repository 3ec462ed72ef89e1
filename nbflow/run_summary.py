"""A run's summary: the top-level fields of its ``run.json`` and its steps counted,
read without building a record per step.

Listing a long history (``nbflow runs``, the catch-up/backfill scan, the history
page a run commit renders) needs each run's id, status, times and step counts;
building every step's record (``RunRecord.from_json``) was half the time of
``nbflow runs`` over 10,000 runs. A summary keeps the parsed JSON, so the full
record of the few runs that need it (the page's chart, the last failure) is built
from it on demand. A summary is read from exactly the records a full read accepts:
what ``RunRecord.from_json`` rejects (a missing field, an unknown status, a step
without an id or with an unknown status) is rejected here too. A summary's
:meth:`fields` are what the summary cache (``git/summary_cache.py``) keeps of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbflow.run_record import RunRecord, RunStatus, StepStatus

_REQUIRED = ("workflow", "run_id", "status", "trigger", "start")
_STEP_STATUSES = frozenset(status.value for status in StepStatus)


@dataclass(frozen=True)
class RunSummary:
    workflow: str
    run_id: str
    status: RunStatus
    trigger: str
    start: str
    duration: float | None
    pid: int | None
    logical: str  # the logical time; an older record's: its start
    steps: int
    succeeded: int  # steps that succeeded (not cached)
    source: Callable[[], Any] = field(compare=False, repr=False)  # the record's JSON

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        """The summary of the record ``data``; KeyError, ValueError or TypeError when
        it is not a record ``RunRecord.from_json`` reads."""
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise KeyError(missing[0])
        steps = data.get("steps", ())
        if any("id" not in step for step in steps):
            raise KeyError("id")
        statuses = [step["status"] for step in steps]
        unknown = set(statuses) - _STEP_STATUSES
        if unknown:
            raise ValueError(f"unknown step status {sorted(map(str, unknown))[0]!r}")
        return cls(
            workflow=data["workflow"],
            run_id=data["run_id"],
            status=RunStatus(data["status"]),
            trigger=data["trigger"],
            start=data["start"],
            duration=data.get("duration"),
            pid=data.get("pid"),
            logical=data.get("logical_time") or data["start"],
            steps=len(statuses),
            succeeded=statuses.count(StepStatus.SUCCEEDED.value),
            source=lambda: data,
        )

    @classmethod
    def from_fields(cls, fields: Any, source: Callable[[], Any]) -> RunSummary:
        """The summary whose :meth:`fields` are ``fields``, its record read by
        ``source``; ValueError or TypeError when ``fields`` are not such a list."""
        if not isinstance(fields, list) or [type(v) for v in fields[:5] + fields[7:]] != _TYPES:
            raise ValueError("not the fields of a run summary")
        workflow, run_id, status, trigger, start, duration, pid, logical, steps, ok = fields
        return cls(
            workflow,
            run_id,
            RunStatus(status),
            trigger,
            start,
            duration,
            pid,
            logical,
            steps,
            ok,
            source=source,
        )

    def fields(self) -> list[Any]:
        """The summary as a JSON list (its record left out)."""
        return [
            self.workflow,
            self.run_id,
            self.status.value,
            self.trigger,
            self.start,
            self.duration,
            self.pid,
            self.logical,
            self.steps,
            self.succeeded,
        ]

    def record(self) -> RunRecord:
        """The full record."""
        return RunRecord.from_json(self.source())


_TYPES = [str, str, str, str, str, str, int, int]  # of the fields but duration and pid
