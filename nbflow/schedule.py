"""Schedules: which workflows a cron string or a moment makes due.

GitHub Actions tells a scheduled job which cron fired (``github.event.schedule``),
so ``nbflow run --schedule CRON`` runs exactly the workflows listing that cron.
``nbflow due`` answers the same question for a moment, for users running nbflow
from their own scheduler; ``window`` tolerates a scheduler that fires late.

A schedule entry may name an IANA time zone (``{cron: "0 6 * * *", timezone:
Europe/Paris}``), as GitHub's ``on.schedule`` does: its cron is read on that zone's
wall clock (across daylight-saving changes), and the times returned are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from nbflow.manifest.model import Schedule, Workflow


@dataclass(frozen=True)
class Due:
    workflow: Workflow
    cron: str
    due: bool
    previous: datetime  # the latest firing at or before the moment asked about (UTC)
    next: datetime  # the first firing after it (UTC)
    timezone: str | None = None  # the zone the cron is read in; None: UTC


def _normalise(cron: str) -> str:
    return " ".join(cron.split())


def workflows_for_cron(workflows: Iterable[Workflow], cron: str) -> list[Workflow]:
    """The workflows whose ``on.schedule`` lists ``cron`` (whitespace-insensitive),
    whatever time zone the entry names: GitHub reports the cron alone."""
    wanted = _normalise(cron)
    return [w for w in workflows if wanted in {_normalise(s.cron) for s in w.triggers.schedule}]


def due_at(
    workflows: Iterable[Workflow], at: datetime | None = None, window: timedelta = timedelta(0)
) -> list[Due]:
    """Every schedule of ``workflows``, with whether it fired in ``(at - window, at]``
    (the minute of ``at`` itself when ``window`` is zero). Times are UTC; each cron is
    read in its entry's time zone."""
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    result = []
    for workflow in workflows:
        for schedule in workflow.triggers.schedule:
            previous, following = _around(schedule, moment)
            due = moment - window < previous <= moment if window else previous == moment
            result.append(Due(workflow, schedule.cron, due, previous, following, schedule.timezone))
    return result


def _around(schedule: Schedule, moment: datetime) -> tuple[datetime, datetime]:
    """The firing at or before ``moment`` and the first after it, in UTC."""
    from croniter import croniter

    local = moment.astimezone(_zone(schedule.timezone))
    previous = croniter(schedule.cron, local + timedelta(minutes=1)).get_prev(datetime)
    following = croniter(schedule.cron, local).get_next(datetime)
    return previous.astimezone(UTC), following.astimezone(UTC)


def _zone(name: str | None) -> tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name) if name else UTC


def schedule_for_cron(workflow: Workflow, cron: str) -> Schedule | None:
    """The entry of ``workflow``'s ``on.schedule`` listing ``cron`` (whitespace-insensitive)."""
    wanted = _normalise(cron)
    return next((s for s in workflow.triggers.schedule if _normalise(s.cron) == wanted), None)


def latest_tick(schedule: Schedule, at: datetime | None = None) -> datetime:
    """The firing of ``schedule`` at or before ``at`` (default: now), on the schedule's
    time zone: the logical time of a run the scheduler started for it, however late
    it started (``default: today`` is that zone's date)."""
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    return _around(schedule, moment)[0].astimezone(_zone(schedule.timezone))


def ticks_between(schedule: Schedule, first: datetime, last: datetime) -> list[datetime]:
    """The firings of ``schedule`` in ``[first, last]``, oldest first, on the schedule's
    time zone (its cron is read on that zone's wall clock)."""
    from croniter import croniter

    zone = _zone(schedule.timezone)
    ticks = []
    cursor = croniter(schedule.cron, first.astimezone(zone) - timedelta(seconds=1))
    while (tick := cursor.get_next(datetime)) <= last:
        ticks.append(tick)
    return ticks


def every_between(first: datetime, last: datetime, every: timedelta) -> list[datetime]:
    """``first``, ``first + every``, … up to ``last``: the ticks of a workflow without a
    schedule (``nbflow backfill --every``)."""
    ticks, tick = [], first
    while tick <= last:
        ticks.append(tick)
        tick += every
    return ticks
