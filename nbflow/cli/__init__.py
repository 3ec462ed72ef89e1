"""The ``nbflow`` command: parse argv, call one API function, map errors to exit codes.

Exit codes: 0 success; 1 a step failed (or a run could not be completed);
2 invalid input (manifest, notebook, command line); 3 internal error (a bug);
75 busy (another run of the workflow holds its lock: try later); 130 interrupted;
141 stdout closed by its reader (128 + SIGPIPE, as a shell reports it). Heavy
modules (papermill, Jupyter, Git) are imported inside the commands that use them so
``nbflow --help`` stays instant.

Each module holds a group of commands, each command's handler (``cmd_…``) next to
the function adding its parser (``add_…``): ``run``, ``backfill`` and ``pieces`` (steps run apart,
``assemble``) with ``run_options`` and ``publish`` (commit, pull request, notify);
``inspect`` (validate, graph, affected, due, runs, show, diff); ``inject``; ``ci``;
``project`` (init, new, hooks); ``github`` (comment). ``common`` holds what they share.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from nbflow.cli import backfill, ci, github, inject, inspect, pieces, project, publish, run
from nbflow.cli.common import EXIT_CLOSED_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_INVALID
from nbflow.errors import NbflowError

log = logging.getLogger(__name__)

BUG_URL = "https://github.com/nbflow/nbflow/issues"

#: The commands, by name, in the order ``nbflow --help`` lists them.
COMMANDS = {
    "validate": inspect.add_validate,
    "run": run.add_run,
    "backfill": backfill.add_backfill,
    "assemble": pieces.add_assemble,
    "affected": inspect.add_affected,
    "hooks": project.add_hooks,
    "due": inspect.add_due,
    "commit": publish.add_commit,
    "graph": inspect.add_graph,
    "inject": inject.add_inject,
    "runs": inspect.add_runs,
    "history": inspect.add_history,
    "show": inspect.add_show,
    "diff": inspect.add_diff,
    "comment": github.add_comment,
    "init": project.add_init,
    "new": project.add_new,
    "ci": ci.add_ci,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if args.directory and not os.path.isdir(args.directory):
        parser.error(f"-C {args.directory}: no such folder")  # exits 2, as bad usage does
    from nbflow.cli.console import setup_logging

    setup_logging(args.verbose)
    # -C: for this command only; an in-process caller (tests, scripts) keeps its folder
    with contextlib.chdir(args.directory) if args.directory else contextlib.nullcontext():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    _remove_stale_scratch()
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # a closed pipe fails here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _closed_pipe()
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


def _remove_stale_scratch() -> None:
    """Remove what killed nbflow processes left in this project's scratch folder
    (unmasked notebooks: see engine/scratch.py)."""
    from nbflow.engine.scratch import remove_stale, scratch_root
    from nbflow.project import find_project

    try:
        remove_stale(scratch_root(find_project().root))
    except OSError as exc:  # the run will report a real problem with the folder
        log.debug("could not look for stale scratch: %s", exc)


def _closed_pipe() -> int:
    """stdout's reader went away (``nbflow show --json RUN | head``): stop quietly, as
    Python's docs advise ("Note on SIGPIPE"), pointing stdout at /dev/null so the
    interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (tests capture it)
        pass
    return EXIT_CLOSED_PIPE


def _redact(text: str) -> str:
    from nbflow.cli.console import redact

    return redact(text)


def _print_traceback() -> None:
    print(_redact(traceback.format_exc()), end="", file=sys.stderr)


def _is_located(exc: NbflowError) -> bool:
    from nbflow.errors import ManifestError

    return isinstance(exc, ManifestError)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; when ``command`` (argv's first word) names a command,
    with that command alone: the others' parsers (~8 ms to build, a few percent of a
    cached run) only serve ``nbflow --help`` and usage errors before a command, and
    an argv that starts with a command shows neither."""
    parser = argparse.ArgumentParser(
        prog="nbflow",
        description="Run notebook workflows from a YAML manifest and keep the runs in Git.",
        epilog="Exit codes: 0 ok, 1 a step failed, 2 invalid input, 3 internal error, "
        "75 busy (the workflow is running: try later), 130 interrupted, 141 stdout closed. "
        "NBFLOW_DEBUG=1 shows tracebacks.",
    )
    from nbflow.version import __version__

    parser.add_argument("--version", action="version", version=f"nbflow {__version__}")
    _add_verbose(parser, default=0)
    parser.add_argument("-C", dest="directory", metavar="DIR", help="run as if started in DIR")

    def print_help(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_INVALID

    parser.set_defaults(handler=print_help)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    chosen = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for add_command in chosen:
        add_command(commands)
    for sub in _subcommands(parser):
        _add_verbose(sub, default=argparse.SUPPRESS)  # `nbflow run WF -v` too
    return parser


def _add_verbose(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-v", "--verbose", action="count", default=default, help="more logging (-vv: debug)"
    )


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command and group below ``parser`` (``run``, ``ci``, ``ci generate``…)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                found += [command, *_subcommands(command)]
    return found
