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
            _print_traceback()
        message = f"error: {exc}" if not _is_located(exc) else str(exc)
        print(_redact(message), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        _print_traceback()
        print(f"nbflow: internal error (a bug): please report it at {BUG_URL}", file=sys.stderr)
        return EXIT_INTERNAL


def _redact(text: str) -> str:
    from nbflow.console import redact

    return redact(text)


def _print_traceback() -> None:
    print(_redact(traceback.format_exc()), end="", file=sys.stderr)


def _is_located(exc: NbflowError) -> bool:
    from nbflow.errors import ManifestError

    return isinstance(exc, ManifestError)


# -- commands -----------------------------------------------------------------------


def _project() -> Any:
    from nbflow.project import find_project

    return find_project()


def _workflow(name: str) -> Any:
    from nbflow.manifest.load import load_manifest, resolve_workflow

    return load_manifest(resolve_workflow(name, _project().root))


def cmd_validate(args: argparse.Namespace) -> int:
    from nbflow.errors import ManifestError
    from nbflow.manifest.load import find_manifests, load_manifest, resolve_workflow

    root = _project().root
    paths = [resolve_workflow(w, root) for w in args.workflows] or find_manifests(root)
    if not paths:
        raise UsageError(
            f"no workflows under {root / 'workflows'}; create one with `nbflow new NAME`"
        )
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
    from nbflow.console import enable_notebook_output

    if args.log_output:
        enable_notebook_output()
    if args.plan or args.step:
        return _run_apart(args)
    if args.changed:
        targets = _changed_to_run(args)
    else:
        targets = [(workflow, _selected_steps(args.steps)) for workflow in _workflows_to_run(args)]
    codes = [_run_one(workflow, args, steps) for workflow, steps in targets]
    return max(codes, default=EXIT_OK)


def _changed_to_run(args: argparse.Namespace) -> list[tuple[Any, list[str] | None]]:
    """``--changed BASE..HEAD``: each affected workflow with the steps to run."""
    from nbflow.affected import affected

    if args.steps or args.resume or args.schedule:
        raise UsageError("--changed chooses the steps: drop --steps, --resume, --schedule")
    found = affected(_project(), args.changed)
    if args.workflow:
        name = _workflow(args.workflow).name
        found = [a for a in found if a.workflow.name == name]
    if not found:
        print(f"no workflow affected by {args.changed}", file=sys.stderr)
    return [(a.workflow, list(a.steps)) for a in found]


def _workflows_to_run(args: argparse.Namespace) -> list[Any]:
    if args.resume:
        return [_workflow_of_run(args)]
    if args.schedule is None:
        if not args.workflow:
            raise UsageError("run: name a WORKFLOW, or give --schedule CRON or --changed RANGE")
        return [_workflow(args.workflow)]
    from nbflow.manifest.load import find_manifests, load_manifest
    from nbflow.schedule import workflows_for_cron

    candidates = (
        [_workflow(args.workflow)]
        if args.workflow
        else [load_manifest(p) for p in find_manifests(_project().root)]
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
    folder = find_run(_project().runs_dir, args.resume)
    if args.workflow and _workflow(args.workflow).name != folder.parent.name:
        raise UsageError(f"run {args.resume} belongs to workflow '{folder.parent.name}'")
    return _workflow(str(folder.parent.name))


def _run_one(workflow: Any, args: argparse.Namespace, steps: list[str] | None) -> int:
    from nbflow.console import progress, redact_logs
    from nbflow.engine.runner import run_workflow
    from nbflow.project import project_of_manifest
    from nbflow.secrets import Redactor

    redact_logs(Redactor.from_environment(workflow.secrets, os.environ))
    options = _run_options(workflow, args, steps)
    project = project_of_manifest(workflow.manifest)
    commit = args.commit or args.push or args.target is not None
    target = project.commit_target(args.target, workflow.commit_target) if commit else ""
    with _executor(args) as executor:
        record = run_workflow(
            workflow, options, project=project, observer=progress(), executor=executor
        )
    return _publish(workflow, project, record, args, target if commit else None)


def _publish(
    workflow: Any, project: Any, record: Any, args: argparse.Namespace, target: str | None
) -> int:
    """After a run (or its assembly): summary, stdout, commit when ``target``, notify;
    the exit code of the run's status."""
    from nbflow.run_record import RunStatus

    run_dir = project.runs_dir / record.workflow / record.run_id
    _publish_step_summary(record)
    print(json.dumps(record.to_json(), indent=2) if args.json else run_dir)
    print(f"executed notebooks and report: {run_dir}", file=sys.stderr)
    _deliver(workflow, project, record, target or "", push=args.push or target == "pr")
    return {
        RunStatus.SUCCEEDED: EXIT_OK,
        RunStatus.CANCELLED: EXIT_INTERRUPTED,
    }.get(record.status, EXIT_FAILED)


def _run_apart(args: argparse.Namespace) -> int:
    """``--plan`` (write a run's seed) or ``--step ID`` (run one step into a piece)."""
    from nbflow.engine.pieces import run_step, seed_run
    from nbflow.store.pieces import read_seed, write_seed

    if args.plan and args.step:
        raise UsageError("--plan and --step go in separate commands: plan first, then each step")
    if args.item is not None and not args.step:
        raise UsageError("--item chooses items of the step given with --step")
    if not args.workflow or not args.outputs or args.changed or args.resume:
        raise UsageError(
            "--plan and --step take a WORKFLOW and --outputs DIR (not --changed, --resume)"
        )
    if args.commit or args.push or args.target or args.executor != "local":
        raise UsageError(
            "--plan and --step run no whole run: commit with "
            "`nbflow assemble --commit`; --executor does not apply"
        )
    workflow = _workflow(args.workflow)
    outputs = Path(args.outputs)
    if args.plan:
        seed = seed_run(workflow, _run_options(workflow, args, _split(args.steps)))
        path = write_seed(outputs, seed)
        print(seed.record.run_id)
        print(f"seed of run {seed.record.run_id}: {path}", file=sys.stderr)
        return EXIT_OK
    inputs = [Path(d) for d in args.inputs] or [outputs]
    if args.parameter or args.params_json or args.steps or args.schedule:
        raise UsageError(
            "--step takes its parameters from the seed: drop -p, --params-json, --steps, --schedule"
        )
    seed = read_seed(inputs)
    if args.run_id and args.run_id != seed.record.run_id:
        raise UsageError(
            f"--run-id {args.run_id}: the seed in --inputs is run {seed.record.run_id}"
        )
    items = _item_indices(args.item) if args.item is not None else None
    step, piece = run_step(
        workflow, args.step, seed, inputs, outputs, log_output=args.log_output, items=items
    )
    print(piece)
    if step.error:
        print(f"{step.id}: {step.status.value}: {step.error.summary}", file=sys.stderr)
    return {"succeeded": EXIT_OK, "cancelled": EXIT_INTERRUPTED}.get(step.status.value, EXIT_FAILED)


def _item_indices(text: str) -> frozenset[int]:
    """``--item 0,3``: item indices; empty: none."""
    parts = _split(text) or []
    if not all(part.isdecimal() for part in parts):
        raise UsageError(f"--item {text!r}: expected item indices such as 0 or 0,3 (from 0)")
    return frozenset(int(part) for part in parts)


def _run_options(workflow: Any, args: argparse.Namespace, steps: list[str] | None) -> Any:
    from nbflow.engine.parameters import check_step_overrides
    from nbflow.engine.runner import RunOptions
    from nbflow.store.runs import check_run_id

    params, step_params = _parse_parameters(workflow, args.parameter, args.params_json)
    check_step_overrides(workflow, step_params)
    return RunOptions(
        parameters=params,
        step_parameters=step_params,
        steps=steps,
        trigger=_trigger(args),
        jobs=args.jobs or (os.cpu_count() or 1),
        log_output=args.log_output,
        resume=args.resume,
        run_id=check_run_id(args.run_id) if args.run_id else None,
        cached=args.cached,
        force=args.force,
        force_steps=tuple(_split(",".join(args.force_step)) or ()),
    )


def cmd_assemble(args: argparse.Namespace) -> int:
    """Assemble, then commit and notify as `nbflow run` does; exit 0 only when the run
    succeeded (a run with steps that never ran is cancelled: 130)."""
    from nbflow.assemble import assemble_run
    from nbflow.console import redact_logs
    from nbflow.project import project_of_manifest
    from nbflow.secrets import Redactor

    workflow = _workflow(args.workflow)
    redact_logs(Redactor.from_environment(workflow.secrets, os.environ))
    project = project_of_manifest(workflow.manifest)
    commit = args.commit or args.push or args.target is not None
    target = project.commit_target(args.target, workflow.commit_target) if commit else None
    record = assemble_run(
        workflow, [Path(d) for d in args.pieces], run_id=args.run_id, project=project
    )
    print(f"assembled run {record.run_id}: {record.status.value}", file=sys.stderr)
    return _publish(workflow, project, record, args, target)


def _executor(args: argparse.Namespace) -> Any:
    """A context giving the step executor ``--executor`` names."""
    import contextlib

    from nbflow.engine.step import execute_step

    if args.executor != "dask":
        if args.scheduler:
            raise UsageError("--scheduler is for --executor dask")
        return contextlib.nullcontext(execute_step)
    from nbflow.engine.dask import dask_executor

    return dask_executor(args.scheduler)


def _trigger(args: argparse.Namespace) -> str:
    if args.schedule:
        return "schedule"
    return str(args.trigger or ("push" if args.changed else "manual"))


def _publish_step_summary(record: Any) -> None:
    """Append the report to the GitHub Actions job summary when running there."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    from nbflow.report import render_report

    with open(summary, "a", encoding="utf-8") as handle:
        handle.write(render_report(record) + "\n")


def _commit(project: Any, run_dir: Path, record: Any, target: str, *, push: bool) -> Any:
    """Commit (and push) a run folder; its CommitResult."""
    from nbflow.store.repo import commit_run

    result = commit_run(project, run_dir, record, target=target, push=push)
    pushed = " and pushed" if result.pushed else ""
    print(f"committed{pushed}: {result.sha[:12]} on {result.branch}", file=sys.stderr)
    return result


def _deliver(workflow: Any, project: Any, record: Any, target: str, *, push: bool) -> None:
    """Commit, push and open a pull request as asked; notify in any case, with links to
    the pushed run commit when there is one."""
    from nbflow.notify import notify_run

    pushed_sha = None
    try:
        if target:
            run_dir = project.runs_dir / record.workflow / record.run_id
            result = _commit(project, run_dir, record, target, push=push)
            pushed_sha = result.sha if result.pushed else None
            if target == "pr":
                _open_pull_request(project, run_dir, record, result.branch)
    finally:
        env = {**os.environ, "GITHUB_SHA": pushed_sha} if pushed_sha else os.environ
        notify_run(workflow, record, env=env)  # never raises; failures are warnings


def _open_pull_request(project: Any, run_dir: Path, record: Any, branch: str) -> None:
    from nbflow.github import github_settings, open_pull_request
    from nbflow.store.repo import current_branch, origin_url, path_in_repository
    from nbflow.store.runs import previous_record

    settings = github_settings(os.environ, origin_url(project.root))
    result = open_pull_request(
        settings,
        branch=branch,
        base=os.environ.get("GITHUB_REF_NAME") or current_branch(project.root),
        record=record,
        run_path=path_in_repository(run_dir),
        previous=previous_record(project.runs_dir, record),
    )
    print(f"pull request: {result.url}", file=sys.stderr)


def cmd_commit(args: argparse.Namespace) -> int:
    from nbflow.manifest.load import load_manifest
    from nbflow.store.runs import find_run, read_record

    project = _project()
    run_dir = find_run(project.runs_dir, args.run)
    record = read_record(run_dir)
    workflow_target = None
    if record.manifest and (project.root / record.manifest).is_file():
        workflow_target = load_manifest(project.root / record.manifest).commit_target
    target = project.commit_target(args.target, workflow_target)
    _commit(project, run_dir, record, target, push=args.push or target == "pr")
    return EXIT_OK


def _selected_steps(text: str | None) -> list[str] | None:
    """``--steps a,b`` → ``["a", "b"]``; None without the option."""
    if text is None:
        return None
    steps = _split(text)
    if not steps:
        raise UsageError(f"--steps '{text}': name at least one step, e.g. --steps a,b")
    return steps


def _split(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _parse_parameters(
    workflow: Any, pairs: Sequence[str], params_json: str | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``--params-json`` then ``-p NAME=VALUE`` (typed by the manifest) and
    ``-p STEP.NAME=VALUE`` (YAML)."""
    from nbflow.manifest.values import parse_cli_value

    step_params: dict[str, dict[str, Any]] = {}
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
            step_params.setdefault(step_id, {})[key] = _yaml_scalar(text)
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


def _yaml_scalar(text: str) -> Any:
    from ruamel.yaml import YAML

    try:
        return YAML(typ="safe").load(text) if text else ""
    except Exception:
        return text


def cmd_affected(args: argparse.Namespace) -> int:
    from nbflow.affected import affected

    project = _project()
    found = affected(project, args.range)
    if args.json:
        print(json.dumps([a.to_json(project) for a in found], indent=2))
    else:
        for entry in found:
            print(f"{entry.workflow.name}: {', '.join(entry.steps)}")
    if not found:
        print(f"no workflow affected by {args.range}", file=sys.stderr)
    return EXIT_OK


def cmd_hooks_install(args: argparse.Namespace) -> int:
    from nbflow.hooks import install_hook

    print(install_hook(_project().root, args.hook, force=args.force))
    return EXIT_OK


def cmd_hooks_uninstall(args: argparse.Namespace) -> int:
    from nbflow.hooks import uninstall_hook

    removed = uninstall_hook(_project().root, args.hook)
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("no nbflow hook installed", file=sys.stderr)
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
    workflows = [load_manifest(p) for p in find_manifests(_project().root)]
    for entry in due_at(workflows, at, timedelta(minutes=args.window)):
        if entry.due or args.all:
            state = "due" if entry.due else "not due"
            print(
                f"{entry.workflow.name}\t{entry.cron}\t{state}\tnext {entry.next:%Y-%m-%dT%H:%MZ}"
            )
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from nbflow.graph import render_graph

    print(render_graph(_workflow(args.workflow), args.format))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from nbflow.store.runs import is_interrupted, list_runs

    records = list_runs(_project(), args.workflow, args.branch)
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2))
        return EXIT_OK
    if not records:
        print("no runs yet", file=sys.stderr)
    for record in records:
        status = "interrupted" if is_interrupted(record) else record.status.value
        took = f"{record.duration:.1f} s" if record.duration is not None else "-"
        done = sum(1 for s in record.steps if s.status.value == "succeeded")
        print(
            f"{record.run_id}  {record.workflow:<20} {status:<11} {done}/{len(record.steps)} steps"
            f"  {took:>8}  {record.trigger}"
        )
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from nbflow.report import render_report
    from nbflow.store.runs import find_record

    record = find_record(_project(), args.run, args.branch)
    print(json.dumps(record.to_json(), indent=2) if args.json else render_report(record))
    return EXIT_OK


def cmd_comment(args: argparse.Namespace) -> int:
    from nbflow.github import github_settings, upsert_comment
    from nbflow.store.repo import origin_url, path_in_repository
    from nbflow.store.runs import find_run, latest_run, read_record

    project = _project()
    folder = (
        find_run(project.runs_dir, args.run)
        if args.run
        else latest_run(project.runs_dir, args.workflow)
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

    root = _project().root
    exists = (root / "workflows" / args.workflow / "workflow.yaml").exists()
    if args.step and exists:
        created = new_step(root, args.workflow, args.step)
    else:  # a new workflow, whose first step is STEP when given
        created = new_workflow(root, args.workflow, args.step or "main")
    for path in created:
        print(path)
    return EXIT_OK


def cmd_ci_generate(args: argparse.Namespace) -> int:
    from nbflow.ci import write_ci

    root = _project().root
    changed = write_ci(root)
    for path in changed:
        print(f"{'wrote' if path.exists() else 'removed'} {path.relative_to(root)}")
    if not changed:
        print("generated workflow files are up to date", file=sys.stderr)
    return EXIT_OK


def cmd_ci_check(args: argparse.Namespace) -> int:
    from nbflow.ci import check_ci

    problems = check_ci(_project().root)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f'{len(problems)} generated workflow file(s) out of date; run "nbflow ci generate"',
            file=sys.stderr,
        )
        return EXIT_FAILED
    print("generated workflow files are up to date", file=sys.stderr)
    return EXIT_OK


def cmd_ci_matrix(args: argparse.Namespace) -> int:
    from nbflow.ci_graph import sweep_matrices
    from nbflow.engine.pieces import check_run_of
    from nbflow.store.pieces import read_seed

    workflow = _workflow(args.workflow)
    seed = read_seed([Path(args.seed)])
    check_run_of(workflow, seed.record)
    for name, matrix in sweep_matrices(workflow, seed).items():
        print(f"{name}={json.dumps(matrix, separators=(',', ':'), ensure_ascii=False)}")
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------


def _commit_options(p: argparse.ArgumentParser, *flag: str) -> None:
    """--push and --target (and, for `run`, --commit; both imply committing)."""
    if flag:
        p.add_argument(flag[0], action="store_true", help=flag[1])
    p.add_argument(
        "--push",
        action="store_true",
        help="push the commit, retrying when another run landed first",
    )
    p.add_argument(
        "--target",
        choices=["current", "runs-branch", "pr"],
        help="current branch, the runs branch, or a new branch for a pull request "
        "(pr implies --push); default: commit.target in the manifest, then in "
        "nbflow.yaml, then current",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbflow",
        description="Run notebook workflows from a YAML manifest and keep the runs in Git.",
        epilog="Exit codes: 0 ok, 1 a step failed, 2 invalid input, 3 internal error, "
        "130 interrupted. NBFLOW_DEBUG=1 shows tracebacks.",
    )
    from nbflow import __version__

    parser.add_argument("--version", action="version", version=f"nbflow {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    parser.add_argument("-C", dest="directory", metavar="DIR", help="run as if started in DIR")

    def print_help(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_INVALID

    parser.set_defaults(handler=print_help)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("validate", help="check manifests and their notebooks")
    p.add_argument("workflows", nargs="*", metavar="WORKFLOW", help="default: all workflows")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("run", help="run a workflow")
    p.add_argument(
        "workflow", nargs="?", metavar="WORKFLOW", help="a name under workflows/ or a path"
    )
    p.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a workflow parameter, or STEP.NAME=VALUE for one step",
    )
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
        "--changed",
        metavar="BASE..HEAD",
        help="run the workflows and steps these commits affect (see `nbflow affected`)",
    )
    p.add_argument(
        "--trigger",
        choices=["manual", "push", "schedule", "dispatch", "pull_request", "hook"],
        help="what started the run, kept in the record (default: manual; push with --changed)",
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
    _commit_options(p, "--commit", "commit the run folder when the run ends (see docs/git.md)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("assemble", help="write a run folder from the pieces of its steps")
    p.add_argument("workflow", metavar="WORKFLOW")
    p.add_argument("--run-id", metavar="RUN", help="check that the pieces are of this run")
    p.add_argument(
        "--pieces",
        nargs="+",
        required=True,
        metavar="DIR",
        help="folders holding the seed and the pieces",
    )
    p.add_argument("--json", action="store_true", help="print the run record")
    _commit_options(p, "--commit", "commit the run folder (see docs/git.md)")
    p.set_defaults(handler=cmd_assemble)

    p = sub.add_parser(
        "affected", help="list the workflows and steps that commits BASE..HEAD affect"
    )
    p.add_argument("range", metavar="BASE..HEAD", help="e.g. HEAD~1..HEAD or origin/main..HEAD")
    p.add_argument("--json", action="store_true", help="one JSON list, with the reasons")
    p.set_defaults(handler=cmd_affected)

    p = sub.add_parser("hooks", help="install or remove the Git hook running affected workflows")
    p.set_defaults(handler=lambda args, p=p: p.print_help() or EXIT_INVALID)
    hooks = p.add_subparsers(title="commands", metavar="COMMAND")
    c = hooks.add_parser("install", help="run affected workflows after each commit (or push)")
    c.add_argument("--hook", choices=["post-commit", "pre-push"], default="post-commit")
    c.add_argument("--force", action="store_true", help="replace a hook nbflow did not write")
    c.set_defaults(handler=cmd_hooks_install)
    c = hooks.add_parser("uninstall", help="remove nbflow's hooks (never another hook)")
    c.add_argument("--hook", choices=["post-commit", "pre-push"], help="default: both")
    c.set_defaults(handler=cmd_hooks_uninstall)

    p = sub.add_parser("due", help="list the schedules due at a moment (default: now)")
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

    p = sub.add_parser("commit", help="commit a run folder to Git (see docs/git.md)")
    p.add_argument("run", metavar="RUN", help="a run id, as `nbflow runs` lists")
    _commit_options(p)
    p.set_defaults(handler=cmd_commit)

    p = sub.add_parser("graph", help="show a workflow's step graph")
    p.add_argument("workflow", metavar="WORKFLOW")
    p.add_argument("--format", choices=["text", "mermaid", "dot"], default="text")
    p.set_defaults(handler=cmd_graph)

    p = sub.add_parser("runs", help="list runs")
    p.add_argument("workflow", nargs="?", metavar="WORKFLOW")
    p.add_argument(
        "--branch",
        action="append",
        metavar="BRANCH",
        help="only runs committed on BRANCH (repeatable); default: the working "
        "tree, HEAD and the runs branch",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("show", help="show one run's report")
    p.add_argument("run", metavar="RUN", help="a run id, as `nbflow runs` lists")
    p.add_argument("--json", action="store_true", help="the run record instead")
    p.add_argument(
        "--branch",
        action="append",
        metavar="BRANCH",
        help="look for the run committed on BRANCH only",
    )
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

    p = sub.add_parser("ci", help="generate or check the GitHub Actions workflow files")
    p.set_defaults(handler=lambda args, p=p: p.print_help() or EXIT_INVALID)
    ci = p.add_subparsers(title="commands", metavar="COMMAND")
    c = ci.add_parser("generate", help="write .github/workflows/nbflow-*.yml from the manifests")
    c.set_defaults(handler=cmd_ci_generate)
    c = ci.add_parser("check", help="exit 1 if a generated workflow file is missing or stale")
    c.set_defaults(handler=cmd_ci_check)
    c = ci.add_parser(
        "matrix",
        help="print each sweep's matrix (its jobs' --item values) as NAME=JSON lines, "
        "for $GITHUB_OUTPUT",
    )
    c.add_argument("workflow", metavar="WORKFLOW")
    c.add_argument("--seed", required=True, metavar="DIR", help="the folder holding the seed")
    c.set_defaults(handler=cmd_ci_matrix)
    return parser
