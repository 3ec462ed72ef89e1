"""``nbflow inject``: a step's real values in its own notebook, for work in Jupyter."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from nbflow.cli.common import EXIT_OK, load_workflow
from nbflow.errors import UsageError
from nbflow.manifest.text_notebook import is_text_notebook

if TYPE_CHECKING:
    from nbflow.cli.common import Commands


def cmd_inject(args: argparse.Namespace) -> int:
    from nbflow.inject import inject, remove_injected

    workflow = load_workflow(args.workflow)
    if args.remove:
        if args.run:
            raise UsageError("--run and --remove do not go together")
        for path in remove_injected(workflow, [args.step] if args.step else []):
            print(path)
        return EXIT_OK
    if not args.step:
        raise UsageError(f"name the step: nbflow inject {args.workflow} STEP")
    done = inject(workflow, args.step, args.run)
    print(done.notebook)
    names = ", ".join(done.parameters) or "no parameters"
    print(f"{args.step}: injected {names}", file=sys.stderr)
    if done.reformatted:
        print(
            f"warning: {done.notebook}: its layout is not one nbflow can keep; it was "
            f"rewritten as {'jupytext' if is_text_notebook(done.notebook) else 'Jupyter'} "
            "writes notebooks",
            file=sys.stderr,
        )
    print(
        f"remove it before committing: nbflow inject --remove {args.workflow} {args.step}",
        file=sys.stderr,
    )
    return EXIT_OK


def add_inject(commands: Commands) -> None:
    p = commands.add_parser(
        "inject",
        help="write the values a step would receive into its notebook, for Jupyter",
        description="Write papermill's injected-parameters cell, holding what STEP would "
        "receive in a run, into its notebook (right after its parameters cell); "
        "--remove takes such cells out again.",
    )
    p.add_argument("workflow", metavar="WORKFLOW", help="a name under workflows/ or a path")
    p.add_argument("step", nargs="?", metavar="STEP", help="with --remove: default all steps")
    p.add_argument("--run", metavar="RUN", help="the values of this run (see `nbflow runs`)")
    p.add_argument("--remove", action="store_true", help="take the injected cells out")
    p.set_defaults(handler=cmd_inject)
