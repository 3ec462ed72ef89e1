"""``nbflow comment``: a run's report as a pull request comment."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from nbflow.cli.common import EXIT_OK, current_project

if TYPE_CHECKING:
    from nbflow.cli.common import Commands


def cmd_comment(args: argparse.Namespace) -> int:
    from nbflow.git.lookups import origin_url, path_in_repository
    from nbflow.github.client import github_settings, upsert_comment
    from nbflow.store.runs import find_run, latest_run, read_record

    project = current_project()
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


def add_comment(commands: Commands) -> None:
    p = commands.add_parser("comment", help="post a run's report on a pull request")
    p.add_argument("run", nargs="?", metavar="RUN", help="a run id (default: the latest run)")
    p.add_argument("--pr", type=int, required=True, metavar="N", help="the pull request")
    p.add_argument("--workflow", metavar="WORKFLOW", help="the latest run of this workflow")
    p.set_defaults(handler=cmd_comment)
