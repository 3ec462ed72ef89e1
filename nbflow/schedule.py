"""Schedules: which workflows a cron string or a moment makes due.

GitHub Actions tells a scheduled job which cron fired (``github.event.schedule``),
so ``nbflow run --schedule CRON`` runs exactly the workflows listing that cron.
``nbflow due`` answers the same question for a moment, for users running nbflow
from their own scheduler; ``window`` tolerates a scheduler that fires late.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nbflow.manifest.model import Workflow


@dataclass(frozen=True)
class Due:
    workflow: Workflow
    cron: str
    due: bool
    previous: datetime  # the latest firing at or before the moment asked about
    next: datetime  # the first firing after it


def _normalise(cron: str) -> str:
    return " ".join(cron.split())


def workflows_for_cron(workflows: Iterable[Workflow], cron: str) -> list[Workflow]:
    """The workflows whose ``on.schedule`` lists ``cron`` (whitespace-insensitive)."""
    wanted = _normalise(cron)
    return [w for w in workflows if wanted in {_normalise(c) for c in w.triggers.schedule}]


def due_at(
    workflows: Iterable[Workflow], at: datetime | None = None, window: timedelta = timedelta(0)
) -> list[Due]:
    """Every schedule of ``workflows``, with whether it fired in ``(at - window, at]``
    (the minute of ``at`` itself when ``window`` is zero). Times are UTC."""
    from croniter import croniter

    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    result = []
    for workflow in workflows:
        for cron in workflow.triggers.schedule:
            previous = croniter(cron, moment + timedelta(minutes=1)).get_prev(datetime)
            following = croniter(cron, moment).get_next(datetime)
            due = moment - window < previous <= moment if window else previous == moment
            result.append(Due(workflow, cron, due, previous, following))
    return result
