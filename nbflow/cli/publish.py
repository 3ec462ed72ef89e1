"""After a run: the GitHub job summary, the run on stdout, a commit, a push, a pull
request, notifications; and ``nbflow commit`` for a run already made."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbflow.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, current_project

if TYPE_CHECKING:
    from nbflow.cli.common import Commands


def commit_target(args: argparse.Namespace, project: Any, workflow: Any) -> str | None:
    """Where ``--commit``, ``--push`` or ``--target`` commit a run; None: nowhere.
    Checks, before anything runs, that GitHub settings a pull request needs are there."""
    if not (args.commit or args.push or args.target is not None):
        return None
    target: str = project.commit_target(args.target, workflow.commit_target)
    _check_target(project, target)
    return target


def _check_target(project: Any, target: str) -> None:
    """A GitHubError for ``pr`` without a token or repository, before a commit or push
    leaves a branch without its pull request."""
    if target == "pr":
        _github_settings(project)


def _github_settings(project: Any) -> Any:
    from nbflow.git.lookups import origin_url
    from nbflow.github.client import github_settings

    return github_settings(os.environ, origin_url(project.root))


def publish(
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


def _publish_step_summary(record: Any) -> None:
    """Append the report to the GitHub Actions job summary when running there."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    from nbflow.report.run_report import render_report

    with open(summary, "a", encoding="utf-8") as handle:
        handle.write(render_report(record) + "\n")


def _commit(project: Any, run_dir: Path, record: Any, target: str, *, push: bool) -> Any:
    """Commit (and push) a run folder; its CommitResult."""
    from nbflow.git.repo import commit_run

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
            result = _commit_and_open(project, run_dir, record, target, push=push)
            pushed_sha = result.sha if result.pushed else None
    finally:
        env = {**os.environ, "GITHUB_SHA": pushed_sha} if pushed_sha else os.environ
        notify_run(workflow, record, env=env)  # never raises; failures are warnings


def _commit_and_open(project: Any, run_dir: Path, record: Any, target: str, *, push: bool) -> Any:
    """Commit (and push) a run folder, then for ``pr`` open or update its pull request."""
    result = _commit(project, run_dir, record, target, push=push)
    if target == "pr":
        _open_pull_request(project, run_dir, record, result.branch)
    return result


def _open_pull_request(project: Any, run_dir: Path, record: Any, branch: str) -> None:
    from nbflow.git.lookups import current_branch, path_in_repository
    from nbflow.github.client import open_pull_request
    from nbflow.report.notebook_changes import diff_with_previous
    from nbflow.store.runs import previous_record

    result = open_pull_request(
        _github_settings(project),
        branch=branch,
        base=os.environ.get("GITHUB_REF_NAME") or current_branch(project.root),
        record=record,
        run_path=path_in_repository(run_dir),
        previous=previous_record(project.runs_dir, record),
        notebook_changes=diff_with_previous(project.runs_dir, run_dir, record),
    )
    print(f"pull request: {result.url}", file=sys.stderr)


def cmd_commit(args: argparse.Namespace) -> int:
    from nbflow.manifest.load import load_manifest
    from nbflow.store.runs import find_run, read_record

    project = current_project()
    run_dir = find_run(project.runs_dir, args.run)
    record = read_record(run_dir)
    workflow_target = None
    if record.manifest and (project.root / record.manifest).is_file():
        workflow_target = load_manifest(project.root / record.manifest).commit_target
    target = project.commit_target(args.target, workflow_target)
    _check_target(project, target)
    _commit_and_open(project, run_dir, record, target, push=args.push or target == "pr")
    return EXIT_OK


def add_commit_options(p: argparse.ArgumentParser, *flag: str) -> None:
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


def add_commit(commands: Commands) -> None:
    p = commands.add_parser("commit", help="commit a run folder to Git (see docs/git.md)")
    p.add_argument("run", metavar="RUN", help="a run id, as `nbflow runs` lists")
    add_commit_options(p)
    p.set_defaults(handler=cmd_commit)
