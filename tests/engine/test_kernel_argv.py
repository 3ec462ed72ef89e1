"""A forked kernel's command line, parsed once in the template: each kernel must end
up with the configuration ipykernel would have parsed from its own line. Each case
runs in a fresh interpreter (the kernel side patches ipykernel's class)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nbflow.engine.kernel_argv import PLACEHOLDER, _key

PARSE = """
import json, sys
from ipykernel.kernelapp import IPKernelApp
from nbflow.engine import kernel_argv
template_args, args = json.loads(sys.argv[1]), json.loads(sys.argv[2])
if template_args is not None:
    kernel_argv.parse_in_template(template_args)
    kernel_argv.use_in_kernel(args)
app = IPKernelApp()
app.parse_command_line(args)
print(json.dumps({
    "config": {k: {t: str(v) for t, v in c.items()} for k, c in app.config.items()},
    "connection_file": app.connection_file,
    "extra_args": app.extra_args,
    "taken": IPKernelApp.parse_command_line.__module__ == "nbflow.engine.kernel_argv",
}))
"""


def parsed(template_args: list[str] | None, args: list[str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PARSE, json.dumps(template_args), json.dumps(args)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


@pytest.mark.parametrize(
    "options",
    [
        ["--HistoryManager.enabled=False"],
        [],
        ["--HistoryManager.enabled=False", "--IPKernelApp.pylab=inline"],
    ],
)
def test_a_kernel_takes_the_configuration_ipykernel_parses_from_its_own_line(
    options: list[str],
) -> None:
    first = ["-f", "/tmp/kernel-first.json", *options]  # the line the template saw first
    own = ["-f", "/tmp/kernel-own.json", *options]

    taken, itself = parsed(first, own), parsed(None, own)

    assert (taken.pop("taken"), itself.pop("taken")) == (True, False)
    assert taken == itself
    assert taken["connection_file"] == "/tmp/kernel-own.json"


def test_other_options_are_left_for_the_kernel_to_parse() -> None:
    assert _key(["-f", "/k.json", "--HistoryManager.enabled=False"]) == (
        "-f",
        PLACEHOLDER,
        "--HistoryManager.enabled=False",
    )
    assert _key(["--debug", "-f", "/k.json"]) is None  # a flag: parsed by ipykernel
    assert _key(["/k.json"]) is None
    assert _key(["-f"]) is None
    assert _key(["-f", "/a.json", "-f", "/b.json"]) is None

    left = parsed(["--debug", "-f", "/tmp/a.json"], ["--debug", "-f", "/tmp/b.json"])
    assert left == parsed(None, ["--debug", "-f", "/tmp/b.json"])
    assert left["taken"] is False
