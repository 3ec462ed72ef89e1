"""``nbflow run``'s options as typed values: RunOptions, parameters, steps, items."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

from nbflow.errors import UsageError


def run_options(workflow: Any, args: argparse.Namespace, steps: list[str] | None) -> Any:
    from nbflow.engine.parameters import parse_step_overrides
    from nbflow.engine.runner import RunOptions
    from nbflow.store.runs import check_run_id

    params, step_texts = parse_parameters(workflow, args.parameter, args.params_json)
    return RunOptions(
        parameters=params,
        step_parameters=parse_step_overrides(workflow, step_texts),
        steps=steps,
        trigger=_trigger(args),
        jobs=args.jobs or (os.cpu_count() or 1),
        log_output=args.log_output,
        resume=args.resume,
        run_id=check_run_id(args.run_id) if args.run_id else None,
        cached=args.cached,
        force=args.force,
        force_steps=tuple(split_commas(",".join(args.force_step)) or ()),
        require_clean=args.require_clean,
        logical_time=logical_time(workflow, args),
    )


def logical_time(workflow: Any, args: argparse.Namespace) -> Any:
    """The moment the run is for: ``--logical-time``; with ``--schedule CRON``, that
    schedule's latest tick (a late scheduler still processes the tick's day); else
    None (the run's start)."""
    if getattr(args, "logical_time", None):
        return parse_moment(args.logical_time, "--logical-time")
    if not args.schedule:
        return None
    from nbflow.schedule import latest_tick, schedule_for_cron

    schedule = schedule_for_cron(workflow, args.schedule)
    return latest_tick(schedule) if schedule else None


def parse_moment(text: str, option: str, *, end_of_day: bool = False, zone: Any = None) -> Any:
    """An ISO date or time given on the command line, aware: in ``zone`` (default UTC)
    unless it names its offset; a bare date is its day's start (``end_of_day``: the
    last instant of the day)."""
    from datetime import UTC, datetime, time, timedelta

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} {text}: expected an ISO date or time such as 2026-11-01 or 2026-11-01T06:00"
        ) from None
    if end_of_day and len(text.strip()) <= len("2026-11-01") and moment.time() == time(0):
        moment += timedelta(days=1, microseconds=-1)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone or UTC)


def _trigger(args: argparse.Namespace) -> str:
    if args.schedule:
        return "schedule"
    return str(args.trigger or ("push" if args.changed else "manual"))


def selected_steps(text: str | None) -> list[str] | None:
    """``--steps a,b`` → ``["a", "b"]``; None without the option."""
    if text is None:
        return None
    steps = split_commas(text)
    if not steps:
        raise UsageError(f"--steps '{text}': name at least one step, e.g. --steps a,b")
    return steps


def item_indices(text: str) -> frozenset[int]:
    """``--item 0,3``: item indices; empty: none."""
    parts = split_commas(text) or []
    if not all(part.isdecimal() for part in parts):
        raise UsageError(f"--item {text!r}: expected item indices such as 0 or 0,3 (from 0)")
    return frozenset(int(part) for part in parts)


def split_commas(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def parse_parameters(
    workflow: Any, pairs: Sequence[str], params_json: str | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """``--params-json`` then ``-p NAME=VALUE`` (typed by the manifest) and
    ``-p STEP.NAME=VALUE`` (as text: typed by the step's notebook, see
    ``engine.parameters.parse_step_overrides``)."""
    from nbflow.manifest.values import parse_cli_value

    step_params: dict[str, dict[str, str]] = {}
    declared = {p.name: p for p in workflow.parameters}

    def parse(name: str, text: str, option: str) -> Any:
        if name not in declared:
            return text  # reported as unknown, with a suggestion, by the runner
        try:
            return parse_cli_value(declared[name], text)
        except ValueError as exc:
            raise UsageError(f"{option}: {exc}") from None

    params = {
        name: parse(name, value, f"--params-json {name}") if isinstance(value, str) else value
        for name, value in _parse_params_json(params_json).items()
    }
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"-p {pair}: expected NAME=VALUE or STEP.NAME=VALUE")
        if "." in name:
            step_id, _, key = name.partition(".")
            step_params.setdefault(step_id, {})[key] = text
        else:
            params[name] = parse(name, text, f"-p {name}={text}")
    return params, step_params


def _parse_params_json(text: str | None) -> dict[str, Any]:
    """The ``--params-json`` object: how GitHub's dispatch passes many parameters."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--params-json: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UsageError('--params-json: expected a JSON object such as {"run_date": "2026-11-20"}')
    return value


def add_parameter_option(p: argparse.ArgumentParser, help: str) -> None:
    """``-p NAME=VALUE`` (repeatable), as ``run`` and ``backfill`` take it."""
    p.add_argument(
        "-p", "--parameter", action="append", default=[], metavar="NAME=VALUE", help=help
    )
