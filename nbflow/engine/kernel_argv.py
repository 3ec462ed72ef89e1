"""A forked kernel's command line, parsed once per run in the template.

Every kernel of a run is started as ``ipykernel_launcher -f CONNECTION_FILE`` plus
the same options; only the connection file differs. ipykernel parses that command
line with traitlets, which builds an ``argparse`` parser of every configurable
option of every class (~5 ms of CPU per kernel, 32 kernels at once on 2 CPUs in a
wide fan-out). The template parses the line once, the connection file replaced by
a placeholder, and each forked kernel takes a copy of that configuration with its
own file put back: the configuration traitlets would have made from the same line.

Anything else (no ``-f FILE``, an option that is not ``--Class.trait=value`` or a
known flag, a placeholder that does not come back where the file was) is parsed by
ipykernel as before.
"""

from __future__ import annotations

import copy
from typing import Any

PLACEHOLDER = "{nbflow-connection-file}"

_parsed: dict[tuple[str, ...], tuple[Any, list[str]]] = {}


def parse_in_template(args: list[str]) -> None:
    """In the template, before forking: parse ``args`` (the kernel's command line
    after ``-m ipykernel_launcher``) once for every kernel that shares its options."""
    key = _key(args)
    if key is None or key in _parsed:
        return
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp()  # type: ignore[no-untyped-call]  # a throwaway, not the singleton
    app.parse_command_line(list(key))
    if app.subapp is not None or app.config.IPKernelApp.get("connection_file") != PLACEHOLDER:
        return
    _parsed[key] = (app.cli_config, list(app.extra_args))


def use_in_kernel(args: list[str]) -> None:
    """In a forked kernel, before ipykernel starts: let its application take the
    configuration the template parsed for ``args``, with its connection file."""
    key = _key(args)
    parsed = _parsed.get(key) if key is not None else None
    if parsed is None:
        return
    from ipykernel.kernelapp import IPKernelApp

    config, extra_args = parsed
    file = args[args.index("-f") + 1]
    parse = IPKernelApp.parse_command_line

    def parse_command_line(self: Any, argv: Any = None) -> None:
        if argv is not None and list(argv) != args:
            parse(self, argv)
            return
        self.argv = list(args)
        self.cli_config = copy.deepcopy(config)
        self.cli_config.IPKernelApp.connection_file = file
        self.update_config(self.cli_config)
        self.extra_args = list(extra_args)

    # this process's class only: the template's and other kernels' are unchanged
    IPKernelApp.parse_command_line = parse_command_line  # type: ignore[method-assign]


def _key(args: list[str]) -> tuple[str, ...] | None:
    """``args`` with the connection file after ``-f`` replaced by the placeholder;
    None when they are not a plain ``-f FILE`` and ``--Class.trait=value`` options."""
    if args.count("-f") != 1 or args.index("-f") + 1 >= len(args):
        return None
    at = args.index("-f") + 1
    rest = args[: at - 1] + args[at + 1 :]
    if not all(arg.startswith("--") and "=" in arg and "." in arg.split("=")[0] for arg in rest):
        return None
    return (*args[:at], PLACEHOLDER, *args[at + 1 :])
