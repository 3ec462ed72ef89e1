"""``nbflow run``: a whole run of the workflow named, of those a schedule or a change
range selects, or of an unfinished run (``--resume``); its steps run apart with
``--plan`` and ``--step`` (cli/pieces.py)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from nbflow.cli.backfill import DEFAULT_CATCH_UP
from nbflow.cli.common import EXIT_OK, current_project, load_workflow, redact_secrets
from nbflow.cli.pieces import run_apart
from nbflow.cli.publish import add_commit_options, commit_target, publish
from nbflow.cli.run_options import (
    add_parameter_option,
    parse_parameters,
    run_options,
    selected_steps,
)
from nbflow.errors import UsageError

if TYPE_CHECKING:
    from nbflow.cli.common import Commands


def cmd_run(args: argparse.Namespace) -> int:
    from nbflow.cli.console import enable_notebook_output

    if args.log_output:
        enable_notebook_output()
    _check_catch_up(args)
    if args.plan or args.step:
        return run_apart(args)
    if args.changed:
        targets = _changed_to_run(args)
    else:
        targets = [(workflow, selected_steps(args.steps)) for workflow in _workflows_to_run(args)]
    codes = [_run_one(workflow, args, steps) for workflow, steps in targets]
    return max(codes, default=EXIT_OK)


def _changed_to_run(args: argparse.Namespace) -> list[tuple[Any, list[str] | None]]:
    """``--changed BASE..HEAD``: each affected workflow with the steps to run."""
    from nbflow.git.affected import affected

    if args.steps or args.resume or args.schedule:
        raise UsageError("--changed chooses the steps: drop --steps, --resume, --schedule")

    def given(workflow: Any) -> dict[str, Any]:
        return parse_parameters(workflow, args.parameter, args.params_json)[0]

    found = affected(current_project(), args.changed, given)
    if args.workflow:
        name = load_workflow(args.workflow).name
        found = [a for a in found if a.workflow.name == name]
    if not found:
        print(f"no workflow affected by {args.changed}", file=sys.stderr)
    return [(a.workflow, list(a.steps)) for a in found]


def _check_catch_up(args: argparse.Namespace) -> None:
    if args.catch_up and not args.schedule:
        raise UsageError("--catch-up makes up for missed ticks of a schedule: give --schedule CRON")
    if args.catch_up and (args.plan or args.step):
        raise UsageError("--catch-up runs whole runs: drop --plan/--step")
    if args.max is not None and not args.catch_up:
        raise UsageError("--max bounds --catch-up: add --catch-up, or drop --max")
    if args.max is not None and args.max < 0:
        raise UsageError(f"--max {args.max}: give a number of ticks, 0 or more")


def _workflows_to_run(args: argparse.Namespace) -> list[Any]:
    if args.resume:
        return [_workflow_of_run(args)]
    if args.schedule is None:
        if not args.workflow:
            raise UsageError("run: name a WORKFLOW, or give --schedule CRON or --changed RANGE")
        return [load_workflow(args.workflow)]
    from nbflow.manifest.load import find_manifests, load_manifest
    from nbflow.schedule import workflows_for_cron

    candidates = (
        [load_workflow(args.workflow)]
        if args.workflow
        else [load_manifest(p) for p in find_manifests(current_project().root)]
    )
    selected = workflows_for_cron(candidates, args.schedule)
    if not selected:
        print(f"no workflow lists the schedule '{args.schedule}'", file=sys.stderr)
    return selected


def _workflow_of_run(args: argparse.Namespace) -> Any:
    """The workflow of the run ``--resume`` names; its parameters are the run's own."""
    from nbflow.store.runs import find_run

    if args.parameter or args.params_json or args.schedule:
        raise UsageError("--resume keeps the run's parameters: drop -p, --params-json, --schedule")
    folder = find_run(current_project().runs_dir, args.resume)
    if args.workflow and load_workflow(args.workflow).name != folder.parent.name:
        raise UsageError(f"run {args.resume} belongs to workflow '{folder.parent.name}'")
    return load_workflow(str(folder.parent.name))


def _run_one(workflow: Any, args: argparse.Namespace, steps: list[str] | None) -> int:
    from nbflow.cli.console import progress
    from nbflow.engine.runner import run_workflow
    from nbflow.project import project_of_manifest

    redact_secrets(workflow)
    options = run_options(workflow, args, steps)
    project = project_of_manifest(workflow.manifest)
    target = commit_target(args, project, workflow)
    if args.resume and _is_finished(workflow, project, args.resume):
        return EXIT_OK
    caught_up = EXIT_OK
    if args.catch_up:
        from nbflow.cli.backfill import catch_up

        caught_up = catch_up(workflow, project, args, target)
    with _executor(args) as executor:
        record = run_workflow(
            workflow, options, project=project, observer=progress(), executor=executor
        )
    return max(caught_up, publish(workflow, project, record, args, target))


def _is_finished(workflow: Any, project: Any, run_id: str) -> bool:
    """Whether run ``run_id`` succeeded already; if so say that resuming it changes
    nothing (no step runs, no byte of its folder is written, nobody is notified)."""
    from nbflow.engine.start import finished_run
    from nbflow.store.runs import run_dir

    if finished_run(project, workflow, run_id) is None:
        return False
    print(run_dir(project.runs_dir, workflow.name, run_id))
    print(
        f"nbflow: run {run_id} of {workflow.name} succeeded already: nothing left to "
        "resume; its folder is unchanged (commit it with `nbflow commit RUN` if needed)",
        file=sys.stderr,
    )
    return True


def _executor(args: argparse.Namespace) -> Any:
    """A context giving the step executor ``--executor`` names (None: steps execute
    here, the runner's own)."""
    import contextlib

    if args.executor != "dask":
        if args.scheduler:
            raise UsageError("--scheduler is for --executor dask")
        return contextlib.nullcontext(None)  # steps execute here (engine/runner.py)
    from nbflow.engine.dask import dask_executor

    return dask_executor(args.scheduler)


def add_run(commands: Commands) -> None:
    p = commands.add_parser("run", help="run a workflow")
    p.add_argument(
        "workflow", nargs="?", metavar="WORKFLOW", help="a name under workflows/ or a path"
    )
    add_parameter_option(p, "set a workflow parameter, or STEP.NAME=VALUE for one step")
    p.add_argument("--steps", metavar="ID,...", help="run only these steps")
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="finish an interrupted or failed run: re-run only its steps that did not succeed",
    )
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="steps at once (default: CPUs)")
    p.add_argument("--log-output", action="store_true", help="stream notebook output")
    p.add_argument(
        "--cached",
        action="store_true",
        help="reuse the last result of each step whose notebook, parameters, inputs and "
        "upstream outputs are unchanged (steps with `cache: false` always run)",
    )
    p.add_argument("--force", action="store_true", help="execute every step, ignoring the cache")
    p.add_argument(
        "--require-clean",
        action="store_true",
        help="refuse to run when the workflow folder, its inputs or nbflow.yaml differ from "
        "HEAD (also `require_clean: true` in nbflow.yaml)",
    )
    p.add_argument(
        "--force-step",
        action="append",
        default=[],
        metavar="ID",
        help="execute this step and the steps that depend on it, ignoring the cache",
    )
    p.add_argument("--params-json", metavar="JSON", help="parameters as one JSON object")
    p.add_argument(
        "--schedule",
        metavar="CRON",
        help="run the workflows whose manifest lists this cron (GitHub: github.event.schedule)",
    )
    p.add_argument(
        "--catch-up",
        action="store_true",
        help="with --schedule: first run the ticks missed since the workflow's last run "
        "(oldest first; trigger catch-up)",
    )
    p.add_argument(
        "--max",
        type=int,
        metavar="N",
        help=f"with --catch-up: at most the N newest missed ticks (default {DEFAULT_CATCH_UP})",
    )
    p.add_argument(
        "--changed",
        metavar="BASE..HEAD",
        help="run the workflows and steps these commits affect (see `nbflow affected`)",
    )
    p.add_argument(
        "--trigger",
        choices=["manual", "push", "schedule", "dispatch", "pull_request", "hook"],
        help="what started the run, kept in the record (default: manual; push with --changed)",
    )
    p.add_argument(
        "--logical-time",
        metavar="TIME",
        help="the moment the run is for (ISO date or time, UTC unless it says otherwise): "
        "`default: today`/`now` resolve from it (default: the --schedule tick, else now)",
    )
    p.add_argument("--json", action="store_true", help="print the run record")
    p.add_argument("--run-id", metavar="RUN", help="the run's id (default: a new one)")
    p.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="where steps execute: local kernels (default) or a Dask cluster",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="the Dask scheduler (default: a local cluster of 2 worker processes)",
    )
    g = p.add_argument_group("steps run apart (docs/scale.md)")
    g.add_argument(
        "--plan",
        action="store_true",
        help="run nothing: write the run's seed (run.json) into --outputs",
    )
    g.add_argument("--step", metavar="ID", help="run only step ID of the seeded run")
    g.add_argument(
        "--item",
        metavar="I,...",
        help="with --step of a foreach step: run only these items (indices from 0), "
        "leaving a part of its piece",
    )
    g.add_argument(
        "--inputs",
        action="append",
        default=[],
        metavar="DIR",
        help="the seed and the pieces of the steps it needs (repeatable; default: --outputs)",
    )
    g.add_argument("--outputs", metavar="DIR", help="where the seed or the piece goes")
    add_commit_options(p, "--commit", "commit the run folder when the run ends (see docs/git.md)")
    p.set_defaults(handler=cmd_run)
