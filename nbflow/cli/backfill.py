"""``nbflow backfill``: one run per schedule tick in a range; and the catch-up of
``nbflow run --schedule CRON --catch-up`` (engine/backfill.py does the work)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from nbflow.cli.common import EXIT_BUSY, EXIT_OK, load_workflow, redact_secrets
from nbflow.cli.publish import add_commit_options, commit_target, publish
from nbflow.cli.run_options import add_parameter_option, parse_moment, parse_parameters
from nbflow.errors import UsageError

if TYPE_CHECKING:
    from nbflow.cli.common import Commands

#: How many missed ticks ``--catch-up`` runs at most, by default.
DEFAULT_CATCH_UP = 3


def cmd_backfill(args: argparse.Namespace) -> int:
    from nbflow.engine.backfill import workflow_ticks
    from nbflow.project import project_of_manifest

    workflow = load_workflow(args.workflow)
    redact_secrets(workflow)
    zone = _zone(workflow) if args.every is None else UTC
    first = parse_moment(args.first, "--from", zone=zone)
    last = parse_moment(args.last, "--to", zone=zone, end_of_day=True)
    if last < first:
        raise UsageError(f"--from {args.first} is after --to {args.last}: swap them")
    every = _every(args.every) if args.every is not None else None
    ticks = workflow_ticks(workflow, first, last, every)
    if not ticks:
        print(
            f"no tick of {workflow.name}'s schedule from {args.first} to {args.last}",
            file=sys.stderr,
        )
        return EXIT_OK
    project = project_of_manifest(workflow.manifest)
    target = commit_target(args, project, workflow)
    codes = run_and_publish(workflow, project, ticks, args, target, trigger="backfill")
    return max(codes, default=EXIT_OK)


def run_and_publish(
    workflow: Any,
    project: Any,
    ticks: Sequence[datetime],
    args: argparse.Namespace,
    target: str | None,
    *,
    trigger: str,
) -> list[int]:
    """Run the ticks lacking a succeeded run, each published (committed, pushed,
    notified) as a normal run when it ends; the exit code of each."""
    from nbflow.cli.console import TickProgress
    from nbflow.engine.backfill import BUSY, SKIPPED, TickOutcome, run_ticks
    from nbflow.engine.parameters import parse_step_overrides, resolve_run_parameters
    from nbflow.engine.runner import RunOptions
    from nbflow.run_record import iso_utc

    params, texts = parse_parameters(workflow, getattr(args, "parameter", []))
    resolve_run_parameters(workflow, params, ticks[0])  # bad -p: refused before any run
    options = RunOptions(
        parameters=params,
        step_parameters=parse_step_overrides(workflow, texts),
        trigger=trigger,
        jobs=os.cpu_count() or 1,
    )
    progress = TickProgress(workflow.name, len(ticks))
    codes: list[int] = []

    def ended(outcome: TickOutcome) -> None:
        detail = f"run {outcome.detail} succeeded already" if outcome.state == SKIPPED else ""
        if outcome.record is not None:
            detail = f"run {outcome.record.run_id}"
        progress.finished(_shown(outcome.tick), outcome.state, detail or outcome.detail)
        if outcome.state == BUSY:
            codes.append(EXIT_BUSY)
        elif outcome.record is not None:
            codes.append(publish(workflow, project, outcome.record, args, target))

    try:
        outcomes = run_ticks(
            workflow,
            project,
            ticks,
            options,
            jobs=max(1, getattr(args, "jobs", 1) or 1),
            force=getattr(args, "force", False),
            on_outcome=ended,
            on_start=lambda tick: progress.started(_shown(tick)),
        )
    finally:
        progress.close()
    ran = [o for o in outcomes if o.state != SKIPPED]
    span = f"{iso_utc(ticks[0])[:16]} … {iso_utc(ticks[-1])[:16]}"
    if not ran:
        print(
            f"nbflow: {workflow.name}: nothing to do: each of the {len(ticks)} ticks "
            f"({span}) has a succeeded run (--force runs them again)",
            file=sys.stderr,
        )
    else:
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in counts.items())
        print(f"nbflow: {workflow.name}: {len(ticks)} ticks ({span}): {summary}", file=sys.stderr)
    return codes


def _shown(tick: datetime) -> str:
    """A tick as the progress shows it: its time on the schedule's zone."""
    return tick.isoformat(timespec="minutes")


def _zone(workflow: Any) -> Any:
    """The time zone dates of ``--from``/``--to`` are read on: the schedule's."""
    from zoneinfo import ZoneInfo

    zones = [s.timezone for s in workflow.triggers.schedule if s.timezone]
    return ZoneInfo(zones[0]) if zones else UTC


def _every(text: str) -> timedelta:
    from nbflow.manifest.durations import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--every {text}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"--every {text}: give a positive duration such as 1d or 6h")
    return timedelta(seconds=seconds)


def catch_up(workflow: Any, project: Any, args: argparse.Namespace, target: str | None) -> int:
    """``run --schedule CRON --catch-up``: the workflow's missed ticks (no run since its
    latest one), newest ``--max``, run oldest first before the tick that fired."""
    from nbflow.engine.backfill import missed_ticks

    limit = DEFAULT_CATCH_UP if args.max is None else args.max
    missed, left_out = missed_ticks(workflow, project, datetime.now(UTC), limit)
    if left_out:
        print(
            f"nbflow: {workflow.name}: {len(left_out)} older missed ticks left out (--max "
            f"{args.max}): run them with `nbflow backfill {workflow.name} --from "
            f"{left_out[0].isoformat(timespec='minutes')} --to "
            f"{left_out[-1].isoformat(timespec='minutes')}`",
            file=sys.stderr,
        )
    if not missed:
        return EXIT_OK
    return max(run_and_publish(workflow, project, missed, args, target, trigger="catch-up"))


def add_backfill(commands: Commands) -> None:
    p = commands.add_parser(
        "backfill", help="run a workflow once per schedule tick in a range (docs/running.md)"
    )
    p.add_argument("workflow", metavar="WORKFLOW", help="a name under workflows/ or a path")
    p.add_argument(
        "--from",
        dest="first",
        required=True,
        metavar="TIME",
        help="first day or time (ISO; on the schedule's time zone unless it says otherwise)",
    )
    p.add_argument(
        "--to",
        dest="last",
        required=True,
        metavar="TIME",
        help="last day (whole day included) or time",
    )
    p.add_argument(
        "--every",
        metavar="DURATION",
        help="ticks every DURATION from --from (1d, 6h) instead of the workflow's schedule",
    )
    p.add_argument(
        "-j", "--jobs", type=int, default=1, metavar="N", help="ticks at once (default 1)"
    )
    p.add_argument(
        "--force", action="store_true", help="run ticks that already have a succeeded run too"
    )
    add_parameter_option(p, "set a workflow parameter in every run")
    p.add_argument("--json", action="store_true", help="print each run record")
    add_commit_options(p, "--commit", "commit each run folder when its run ends (docs/git.md)")
    p.set_defaults(handler=cmd_backfill)
