"""The ``nbflow`` command: parse argv, call one API function, map errors to exit codes.

Exit codes: 0 success; 1 a step failed (or a run could not be completed);
2 invalid input (manifest, notebook, command line); 3 internal error (a bug);
130 interrupted. Heavy modules (papermill, Jupyter, Git) are imported inside the
commands that use them so ``nbflow --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nbflow.errors import NbflowError, UsageError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
BUG_URL = "https://github.com/nbflow/nbflow/issues"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    from nbflow.console import setup_logging

    setup_logging(args.verbose)
    if args.directory:
        os.chdir(args.directory)
    try:
        code: int = args.handler(args)
        return code
    except NbflowError as exc:
        if os.environ.get("NBFLOW_DEBUG"):
            traceback.print_exc()
        print(f"error: {exc}" if not _is_located(exc) else str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        print(f"nbflow: internal error (a bug): please report it at {BUG_URL}", file=sys.stderr)
        return EXIT_INTERNAL


def _is_located(exc: NbflowError) -> bool:
    from nbflow.errors import ManifestError

    return isinstance(exc, ManifestError)


# -- commands -----------------------------------------------------------------------


def _project(args: argparse.Namespace) -> Any:
    from nbflow.project import find_project

    return find_project()


def _workflow(name: str) -> Any:
    from nbflow.manifest.load import load_manifest, resolve_workflow

    return load_manifest(resolve_workflow(name, _project(None).root))


def cmd_validate(args: argparse.Namespace) -> int:
    from nbflow.errors import ManifestError
    from nbflow.manifest.load import find_manifests, load_manifest, resolve_workflow

    root = _project(args).root
    paths = [resolve_workflow(w, root) for w in args.workflows] or find_manifests(root)
    if not paths:
        raise UsageError(f"no workflows under {root / 'workflows'}; create one with `nbflow new NAME`")
    problems: list[str] = []
    for path in paths:
        try:
            workflow = load_manifest(path)
            print(f"ok {path} ({len(workflow.steps)} steps)", file=sys.stderr)
        except ManifestError as exc:
            problems.extend(str(p) for p in exc.problems)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from nbflow.console import enable_notebook_output, progress
    from nbflow.engine.parameters import check_step_overrides
    from nbflow.engine.runner import RunOptions, run_workflow
    from nbflow.record import RunStatus

    workflow = _workflow(args.workflow)
    params, step_params = _parse_parameters(workflow, args.parameter)
    check_step_overrides(workflow, step_params)
    if args.log_output:
        enable_notebook_output()
    options = RunOptions(
        parameters=params,
        step_parameters=step_params,
        steps=_split(args.steps),
        trigger=args.trigger,
        jobs=args.jobs or (os.cpu_count() or 1),
        log_output=args.log_output,
    )
    record = run_workflow(workflow, options, observer=progress())
    run_dir = _project(args).runs_dir / record.workflow / record.run_id
    if args.json:
        print(json.dumps(record.to_json(), indent=2))
    else:
        print(run_dir)
    print(f"executed notebooks and report: {run_dir}", file=sys.stderr)
    return {
        RunStatus.SUCCEEDED: EXIT_OK,
        RunStatus.CANCELLED: EXIT_INTERRUPTED,
    }.get(record.status, EXIT_FAILED)


def _split(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _parse_parameters(
    workflow: Any, pairs: Sequence[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``-p NAME=VALUE`` (typed by the manifest) and ``-p STEP.NAME=VALUE`` (YAML)."""
    from nbflow.manifest.values import parse_cli_value

    params: dict[str, Any] = {}
    step_params: dict[str, dict[str, Any]] = {}
    declared = {p.name: p for p in workflow.parameters}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"-p {pair}: expected NAME=VALUE or STEP.NAME=VALUE")
        if "." in name:
            step_id, _, key = name.partition(".")
            step_params.setdefault(step_id, {})[key] = _yaml_scalar(text)
        elif name in declared:
            try:
                params[name] = parse_cli_value(declared[name], text)
            except ValueError as exc:
                raise UsageError(f"-p {name}={text}: {exc}") from None
        else:
            params[name] = text  # reported as unknown, with a suggestion, by the runner
    return params, step_params


def _yaml_scalar(text: str) -> Any:
    from ruamel.yaml import YAML

    try:
        return YAML(typ="safe").load(text) if text else ""
    except Exception:
        return text


def cmd_graph(args: argparse.Namespace) -> int:
    from nbflow.graph import render_graph

    print(render_graph(_workflow(args.workflow), args.format))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from nbflow.store.runs import is_interrupted, iter_run_dirs, read_record

    records = [read_record(d) for d in iter_run_dirs(_project(args).runs_dir, args.workflow)]
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
        return EXIT_OK
    if not records:
        print("no runs yet", file=sys.stderr)
    for record in records:
        status = "interrupted" if is_interrupted(record) else record.status.value
        took = f"{record.duration:.1f} s" if record.duration is not None else "-"
        done = sum(1 for s in record.steps if s.status.value == "succeeded")
        print(f"{record.run_id}  {record.workflow:<20} {status:<11} {done}/{len(record.steps)} steps"
              f"  {took:>8}  {record.trigger}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from nbflow.report import render_report
    from nbflow.store.runs import find_run, read_record

    record = read_record(find_run(_project(args).runs_dir, args.run))
    print(json.dumps(record.to_json(), indent=2) if args.json else render_report(record))
    return EXIT_OK


def cmd_comment(args: argparse.Namespace) -> int:
    from nbflow.github import github_settings, origin_url, path_in_repository, upsert_comment
    from nbflow.store.runs import find_run, latest_run, read_record

    project = _project(args)
    folder = find_run(project.runs_dir, args.run) if args.run else latest_run(
        project.runs_dir, args.workflow
    )
    settings = github_settings(os.environ, origin_url(project.root))
    result = upsert_comment(
        settings, pr_number=args.pr, record=read_record(folder), run_path=path_in_repository(folder)
    )
    print(result.url)
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from nbflow.scaffold import init_project

    for path in init_project(Path(args.path)):
        print(path)
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from nbflow.scaffold import new_step, new_workflow

    root = _project(args).root
    if args.step:
        created = new_step(root, args.workflow, args.step)
    else:
        created = new_workflow(root, args.workflow)
    for path in created:
        print(path)
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbflow",
        description="Run notebook workflows from a YAML manifest and keep the runs in Git.",
        epilog="Exit codes: 0 ok, 1 a step failed, 2 invalid input, 3 internal error, "
        "130 interrupted. NBFLOW_DEBUG=1 shows tracebacks.",
    )
    from nbflow import __version__

    parser.add_argument("--version", action="version", version=f"nbflow {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("-C", dest="directory", metavar="DIR", help="run as if started in DIR")
    parser.set_defaults(handler=lambda args: parser.print_help() or EXIT_INVALID)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("validate", help="check manifests and their notebooks")
    p.add_argument("workflows", nargs="*", metavar="WORKFLOW", help="default: all workflows")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("run", help="run a workflow")
    p.add_argument("workflow", metavar="WORKFLOW", help="a name under workflows/ or a path")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="set a workflow parameter, or STEP.NAME=VALUE for one step")
    p.add_argument("--steps", metavar="ID,...", help="run only these steps")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="steps at once (default: CPUs)")
    p.add_argument("--log-output", action="store_true", help="stream notebook output")
    p.add_argument("--trigger", default="manual", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print the run record")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("graph", help="show a workflow's step graph")
    p.add_argument("workflow", metavar="WORKFLOW")
    p.add_argument("--format", choices=["text", "mermaid", "dot"], default="text")
    p.set_defaults(handler=cmd_graph)

    p = sub.add_parser("runs", help="list runs")
    p.add_argument("workflow", nargs="?", metavar="WORKFLOW")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("show", help="show one run's report")
    p.add_argument("run", metavar="RUN", help="a run id, as `nbflow runs` lists")
    p.add_argument("--json", action="store_true", help="the run record instead")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("comment", help="post a run's report on a pull request")
    p.add_argument("run", nargs="?", metavar="RUN", help="a run id (default: the latest run)")
    p.add_argument("--pr", type=int, required=True, metavar="N", help="the pull request")
    p.add_argument("--workflow", metavar="WORKFLOW", help="the latest run of this workflow")
    p.set_defaults(handler=cmd_comment)

    p = sub.add_parser("init", help="set up a repository for nbflow")
    p.add_argument("path", nargs="?", default=".")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("new", help="scaffold a workflow, or a step of one")
    p.add_argument("workflow", metavar="WORKFLOW")
    p.add_argument("step", nargs="?", metavar="STEP")
    p.set_defaults(handler=cmd_new)
    return parser
