"""Setting a repository up: ``init``, ``new`` (a workflow or a step) and ``hooks``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nbflow.cli.common import EXIT_OK, add_group, current_project

if TYPE_CHECKING:
    from nbflow.cli.common import Commands


def cmd_init(args: argparse.Namespace) -> int:
    from nbflow.scaffold import init_project

    for path in init_project(Path(args.path)):
        print(path)
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from nbflow.scaffold import new_step, new_workflow

    root = current_project().root
    exists = (root / "workflows" / args.workflow / "workflow.yaml").exists()
    if args.step and exists:
        created = new_step(root, args.workflow, args.step)
    else:  # a new workflow, whose first step is STEP when given
        created = new_workflow(root, args.workflow, args.step or "main")
    for path in created:
        print(path)
    return EXIT_OK


def cmd_hooks_install(args: argparse.Namespace) -> int:
    from nbflow.git.hooks import install_hook

    print(install_hook(current_project().root, args.hook, force=args.force))
    return EXIT_OK


def cmd_hooks_uninstall(args: argparse.Namespace) -> int:
    from nbflow.git.hooks import uninstall_hook

    removed = uninstall_hook(current_project().root, args.hook)
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("no nbflow hook installed", file=sys.stderr)
    return EXIT_OK


def add_hooks(commands: Commands) -> None:
    hooks = add_group(
        commands, "hooks", "install or remove the Git hook running affected workflows"
    )
    c = hooks.add_parser("install", help="run affected workflows after each commit (or push)")
    c.add_argument(
        "--hook",
        choices=["post-commit", "pre-push"],
        default="post-commit",
        help="after each commit (default), or before each push (a failed run stops the push)",
    )
    c.add_argument("--force", action="store_true", help="replace a hook nbflow did not write")
    c.set_defaults(handler=cmd_hooks_install)
    c = hooks.add_parser("uninstall", help="remove nbflow's hooks (never another hook)")
    c.add_argument("--hook", choices=["post-commit", "pre-push"], help="default: both")
    c.set_defaults(handler=cmd_hooks_uninstall)


def add_init(commands: Commands) -> None:
    p = commands.add_parser("init", help="set up a repository for nbflow")
    p.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="the repository (default: here)"
    )
    p.set_defaults(handler=cmd_init)


def add_new(commands: Commands) -> None:
    p = commands.add_parser("new", help="scaffold a workflow, or a step of one")
    p.add_argument("workflow", metavar="WORKFLOW", help="the workflow's name (its folder)")
    p.add_argument(
        "step",
        nargs="?",
        metavar="STEP",
        help="add this step (or, for a step the manifest lists, write its missing notebook); "
        "a new workflow's first step (default: main)",
    )
    p.set_defaults(handler=cmd_new)
