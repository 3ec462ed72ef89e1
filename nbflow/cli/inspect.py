"""Commands that look and change nothing: ``validate``, ``graph``, ``affected``,
``due`` (workflows) and ``runs``, ``show``, ``diff`` (run history)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from nbflow.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    current_project,
    load_workflow,
)
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
    if args.missed:
        return _print_missed(workflows, at)
    entries = due_at(workflows, at, timedelta(minutes=args.window))
    for entry in entries:
        if entry.due or args.all:
            state = "due" if entry.due else "not due"
            cron = f"{entry.cron} ({entry.timezone})" if entry.timezone else entry.cron
            print(f"{entry.workflow.name}\t{cron}\t{state}\tnext {entry.next:%Y-%m-%dT%H:%MZ}")
    if not any(entry.due for entry in entries):
        print(_nothing_due(entries, at.astimezone(UTC), args.window), file=sys.stderr)
    return EXIT_OK


def _print_missed(workflows: list[Any], at: Any) -> int:
    """``nbflow due --missed``: each schedule tick since a workflow's latest run that
    has no run (what ``nbflow run --schedule CRON --catch-up`` would run)."""
    from nbflow.engine.backfill import missed_ticks
    from nbflow.project import project_of_manifest

    found = 0
    for workflow in workflows:
        if not workflow.triggers.schedule:
            continue
        missed, older = missed_ticks(workflow, project_of_manifest(workflow.manifest), at, 0)
        for tick in [*older, *missed]:
            print(f"{workflow.name}\t{tick.isoformat(timespec='minutes')}\tmissed")
            found += 1
    if not found:
        print(
            "no missed ticks: every tick since each workflow's latest run has a run",
            file=sys.stderr,
        )
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

    print(render_graph(load_workflow(args.workflow), args.format, files=args.files))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from nbflow.git.history import list_runs, list_summaries
    from nbflow.store.runs import is_interrupted

    if args.json:
        records = list_runs(current_project(), args.workflow, args.branch)
        print(json.dumps([r.to_json() for r in records], indent=2))
        return EXIT_OK
    runs = list_summaries(current_project(), args.workflow, args.branch)
    if not runs:
        print("no runs yet", file=sys.stderr)
    else:
        print(
            f"{'RUN':<23}  {'WORKFLOW':<20} {'LOGICAL TIME':<17} {'STATUS':<11} {'STEPS':<9}  "
            f"{'TOOK':>8}  TRIGGER"
        )
    for run in runs:
        status = "interrupted" if is_interrupted(run) else run.status.value
        took = f"{run.duration:.1f} s" if run.duration is not None else "-"
        print(
            f"{run.run_id}  {run.workflow:<20} {run.logical[:16].replace('T', ' '):<17} "
            f"{status:<11} {run.succeeded}/{run.steps} steps  {took:>8}  {run.trigger}"
        )
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from nbflow.git.history import list_runs
    from nbflow.report.history import render_text

    name = load_workflow(args.workflow).name
    print(render_text(name, list_runs(current_project(), name, args.branch)))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from nbflow.git.history import find_record
    from nbflow.report.run_report import render_report

    record = find_record(current_project(), args.run, args.branch)
    print(json.dumps(record.to_json(), indent=2) if args.json else render_report(record))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from nbflow.report.run_diff import diff_runs, render_text
    from nbflow.store.run_refs import resolve_runs

    before, after = resolve_runs(current_project().runs_dir, args.run_a, args.run_b)
    diff = diff_runs(before, after, args.step)
    print(render_text(diff))
    return EXIT_FAILED if args.exit_code and diff.changed else EXIT_OK


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
    p.add_argument(
        "--missed",
        action="store_true",
        help="list the ticks since each workflow's latest run that have no run "
        "(what `run --schedule CRON --catch-up` makes up for)",
    )
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
    p.add_argument(
        "--files",
        action="store_true",
        help="also the data files steps read (inputs:) and write (produces:)",
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


def add_history(commands: Commands) -> None:
    p = commands.add_parser(
        "history", help="a workflow's last runs, status strip and last failure (docs/git.md)"
    )
    p.add_argument("workflow", metavar="WORKFLOW", help="a name under workflows/ or a path")
    p.add_argument(
        "--branch", action="append", metavar="REF", help="only runs committed on REF (repeatable)"
    )
    p.set_defaults(handler=cmd_history)


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


def add_diff(commands: Commands) -> None:
    p = commands.add_parser(
        "diff", help="show the cells whose outputs changed between two runs' notebooks"
    )
    runs = "a run id, a run folder, latest, or previous (the run before the other one)"
    p.add_argument("run_a", metavar="RUN_A", help=runs)
    p.add_argument("run_b", metavar="RUN_B", help="the run compared with RUN_A (as RUN_A)")
    p.add_argument("step", nargs="?", metavar="STEP", help="only this step's notebooks")
    p.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when an output changed, 0 when none did (as git diff --exit-code)",
    )
    p.set_defaults(handler=cmd_diff)
