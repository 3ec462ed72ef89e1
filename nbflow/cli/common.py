"""What the command modules share: exit codes, finding the project and a workflow,
and building command groups."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeAlias

    #: What ``add_parser`` is called on: the commands of ``nbflow`` or of a group.
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: Another run of the workflow holds the lock: try later (sysexits' EX_TEMPFAIL).
EXIT_BUSY = 75
#: stdout was closed by its reader (``nbflow show --json RUN | head``): 128 + SIGPIPE,
#: what a shell reports for a tool the closed pipe stopped.
EXIT_CLOSED_PIPE = 141


def current_project() -> Any:
    from nbflow.project import find_project

    return find_project()


def load_workflow(name: str) -> Any:
    from nbflow.manifest.load import load_manifest, resolve_workflow

    return load_manifest(resolve_workflow(name, current_project().root))


def redact_secrets(workflow: Any) -> None:
    """Mask ``workflow``'s secrets, and the tokens nbflow holds, in every log line
    (notebook output streamed with ``--log-output`` included) and error message."""
    import os

    from nbflow.cli.console import redact_logs
    from nbflow.secrets import Redactor

    redact_logs(Redactor.from_environment(workflow.secrets, os.environ))


def add_group(commands: Commands, name: str, help: str) -> Commands:
    """A command with commands of its own (``nbflow ci generate``); alone, it prints
    its help and exits 2."""
    p = commands.add_parser(name, help=help)
    p.set_defaults(handler=lambda args, p=p: p.print_help() or EXIT_INVALID)
    return p.add_subparsers(title="commands", metavar="COMMAND")
