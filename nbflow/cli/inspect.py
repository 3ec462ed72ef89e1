"""Commands that look and change nothing: ``validate``, ``graph``, ``affected``,
``due`` (workflows) and ``runs``, ``show`` (run history)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from nbflow.cli.common import EXIT_INVALID, EXIT_OK, current_project, load_workflow
from nbflow.errors import UsageError

if TYPE_CHECKING:
    from nbflow.cli.common import Commands


def cmd_validate(args: argparse.Namespace) -> int:
    from nbflow.errors import ManifestError
    from nbflow.manifest.load import find_manifests, load_manifest, resolve_workflow

    root = current_project().root
    paths = [resolve_workflow(w, root) for w in args.workflows] or find_manifests(root)
    if not paths:
        raise UsageError(
            f"no workflows under {root / 'workflows'}; create one with `nbflow new NAME`"
        )
    problems: list[str] = []
    for path in paths:
        try:
            workflow = load_manifest(path)
            for warning in workflow.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            print(f"ok {path} ({len(workflow.steps)} steps)", file=sys.stderr)
        except ManifestError as exc:
            problems.extend(str(p) for p in exc.problems)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def cmd_affected(args: argparse.Namespace) -> int:
    from nbflow.git.affected import affected

    project = current_project()
    found = affected(project, args.range)
    if args.json:
        print(json.dumps([a.to_json(project) for a in found], indent=2))
    else:
        for entry in found:
            print(f"{entry.workflow.name}: {', '.join(entry.steps)}")
    if not found:
        print(f"no workflow affected by {args.range}", file=sys.stderr)
    return EXIT_OK


def cmd_due(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from nbflow.manifest.load import find_manifests, load_manifest
    from nbflow.schedule import due_at

    try:
        at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        raise UsageError(f"--at {args.at}: expected an ISO time such as 2026-11-23T00:00") from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    workflows = [load_manifest(p) for p in find_manifests(current_project().root)]
    entries = due_at(workflows, at, timedelta(minutes=args.window))
    for entry in entries:
        if entry.due or args.all:
            state = "due" if entry.due else "not due"
            cron = f"{entry.cron} ({entry.timezone})" if entry.timezone else entry.cron
            print(f"{entry.workflow.name}\t{cron}\t{state}\tnext {entry.next:%Y-%m-%dT%H:%MZ}")
    if not any(entry.due for entry in entries):
        print(_nothing_due(entries, at.astimezone(UTC), args.window), file=sys.stderr)
    return EXIT_OK


def _nothing_due(entries: list[Any], at: Any, window: int) -> str:
    """What ``nbflow due`` says on stderr when no schedule is due."""
    if not entries:
        return "no workflow has a schedule (`on: {schedule: [CRON]}` in its workflow.yaml)"
    before = f" or in the {window} minutes before" if window else ""
    soonest = min(entries, key=lambda entry: entry.next)
    return (
        f"nothing due at {at:%Y-%m-%dT%H:%MZ}{before}; next: {soonest.workflow.name} "
        f"({soonest.cron}) at {soonest.next:%Y-%m-%dT%H:%MZ}; `nbflow due --all` lists "
        "every schedule"
    )


def cmd_graph(args: argparse.Namespace) -> int:
    from nbflow.report.graph import render_graph

    print(render_graph(load_workflow(args.workflow), args.format))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from nbflow.store.runs import is_interrupted, list_runs

    records = list_runs(current_project(), args.workflow, args.branch)
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
        return EXIT_OK
    if not records:
        print("no runs yet", file=sys.stderr)
    else:
        print(
            f"{'RUN':<23}  {'WORKFLOW':<20} {'LOGICAL TIME':<17} {'STATUS':<11} {'STEPS':<9}  "
            f"{'TOOK':>8}  TRIGGER"
        )
    for record in records:
        status = "interrupted" if is_interrupted(record) else record.status.value
        took = f"{record.duration:.1f} s" if record.duration is not None else "-"
        done = sum(1 for s in record.steps if s.status.value == "succeeded")
        print(
            f"{record.run_id}  {record.workflow:<20} {record.logical[:16].replace('T', ' '):<17} "
            f"{status:<11} {done}/{len(record.steps)} steps"
            f"  {took:>8}  {record.trigger}"
        )
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from nbflow.report.run_report import render_report
    from nbflow.store.runs import find_record

    record = find_record(current_project(), args.run, args.branch)
    print(json.dumps(record.to_json(), indent=2) if args.json else render_report(record))
    return EXIT_OK


def add_validate(commands: Commands) -> None:
    p = commands.add_parser("validate", help="check manifests and their notebooks")
    p.add_argument("workflows", nargs="*", metavar="WORKFLOW", help="default: all workflows")
    p.set_defaults(handler=cmd_validate)


def add_affected(commands: Commands) -> None:
    p = commands.add_parser(
        "affected", help="list the workflows and steps that commits BASE..HEAD affect"
    )
    p.add_argument("range", metavar="BASE..HEAD", help="e.g. HEAD~1..HEAD or origin/main..HEAD")
    p.add_argument("--json", action="store_true", help="one JSON list, with the reasons")
    p.set_defaults(handler=cmd_affected)


def add_due(commands: Commands) -> None:
    p = commands.add_parser("due", help="list the schedules due at a moment (default: now)")
    p.add_argument("--at", metavar="TIME", help="ISO time, UTC unless it says otherwise")
    p.add_argument(
        "--window",
        type=int,
        default=0,
        metavar="MINUTES",
        help="also count firings in the MINUTES before TIME (a late scheduler)",
    )
    p.add_argument("--all", action="store_true", help="list schedules that are not due too")
    p.set_defaults(handler=cmd_due)


def add_graph(commands: Commands) -> None:
    p = commands.add_parser("graph", help="show a workflow's step graph")
    p.add_argument("workflow", metavar="WORKFLOW", help="a name under workflows/ or a path")
    p.add_argument(
        "--format",
        choices=["text", "mermaid", "dot"],
        default="text",
        help="text (default), mermaid (renders on GitHub) or Graphviz dot",
    )
    p.set_defaults(handler=cmd_graph)


def add_runs(commands: Commands) -> None:
    p = commands.add_parser("runs", help="list runs")
    p.add_argument("workflow", nargs="?", metavar="WORKFLOW", help="only this workflow's runs")
    p.add_argument(
        "--branch",
        action="append",
        metavar="BRANCH",
        help="only runs committed on BRANCH (repeatable); default: the working "
        "tree, HEAD and the runs branch",
    )
    p.add_argument("--json", action="store_true", help="the run records, as one JSON list")
    p.set_defaults(handler=cmd_runs)


def add_show(commands: Commands) -> None:
    p = commands.add_parser("show", help="show one run's report")
    p.add_argument("run", metavar="RUN", help="a run id, as `nbflow runs` lists")
    p.add_argument("--json", action="store_true", help="the run record instead")
    p.add_argument(
        "--branch",
        action="append",
        metavar="BRANCH",
        help="look for the run committed on BRANCH only",
    )
    p.set_defaults(handler=cmd_show)
