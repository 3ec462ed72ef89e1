"""``nbflow ci generate | check | matrix``: the GitHub Actions workflow files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nbflow.cli.common import EXIT_FAILED, EXIT_OK, add_group, current_project, load_workflow

if TYPE_CHECKING:
    from nbflow.cli.common import Commands


def cmd_ci_generate(args: argparse.Namespace) -> int:
    from nbflow.github.workflows import write_ci

    root = current_project().root
    changed = write_ci(root)
    for path in changed:
        print(f"{'wrote' if path.exists() else 'removed'} {path.relative_to(root)}")
    if not changed:
        print("generated workflow files are up to date", file=sys.stderr)
    return EXIT_OK


def cmd_ci_check(args: argparse.Namespace) -> int:
    from nbflow.github.workflows import bumped, check_ci

    root = current_project().root
    problems = check_ci(root)
    for problem in problems:
        print(problem)
    for line in bumped(root):
        print(line, file=sys.stderr)
    if problems:
        print(
            f'{len(problems)} generated workflow file(s) out of date; run "nbflow ci generate"',
            file=sys.stderr,
        )
        return EXIT_FAILED
    print("generated workflow files are up to date", file=sys.stderr)
    return EXIT_OK


def cmd_ci_guard(args: argparse.Namespace) -> int:
    import os

    from nbflow.github.guard import guard_push

    event_path = os.environ.get("GITHUB_EVENT_PATH")
    verdict = guard_push(
        os.environ.get("GITHUB_EVENT_NAME", ""), Path(event_path) if event_path else None
    )
    print(f"skip={'true' if verdict.skip else 'false'}")
    print(
        f"nbflow ci guard: {'skip' if verdict.skip else 'run'}: {verdict.reason}", file=sys.stderr
    )
    return EXIT_OK


def cmd_ci_matrix(args: argparse.Namespace) -> int:
    from nbflow.engine.pieces import check_run_of
    from nbflow.github.jobs import sweep_matrices
    from nbflow.store.pieces import read_seed

    workflow = load_workflow(args.workflow)
    seed = read_seed([Path(args.seed)])
    check_run_of(workflow, seed.record)
    for name, matrix in sweep_matrices(workflow, seed).items():
        print(f"{name}={json.dumps(matrix, separators=(',', ':'), ensure_ascii=False)}")
    return EXIT_OK


def add_ci(commands: Commands) -> None:
    ci = add_group(commands, "ci", "generate or check the GitHub Actions workflow files")
    c = ci.add_parser("generate", help="write .github/workflows/nbflow-*.yml from the manifests")
    c.set_defaults(handler=cmd_ci_generate)
    c = ci.add_parser("check", help="exit 1 if a generated workflow file is missing or stale")
    c.set_defaults(handler=cmd_ci_check)
    c = ci.add_parser(
        "guard",
        help="print skip=true when the GitHub push event holds only run commits (nbflow's "
        "trailers), else skip=false, for $GITHUB_OUTPUT",
    )
    c.set_defaults(handler=cmd_ci_guard)
    c = ci.add_parser(
        "matrix",
        help="print each sweep's matrix (its jobs' --item values) as NAME=JSON lines, "
        "for $GITHUB_OUTPUT",
    )
    c.add_argument("workflow", metavar="WORKFLOW", help="a name under workflows/ or a path")
    c.add_argument("--seed", required=True, metavar="DIR", help="the folder holding the seed")
    c.set_defaults(handler=cmd_ci_matrix)
