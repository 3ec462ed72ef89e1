"""The command line's parser: options anywhere the docs show them, help for each."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from nbflow.cli import _parser, main


def commands(
    parser: argparse.ArgumentParser, name: str = "nbflow"
) -> dict[str, argparse.ArgumentParser]:
    """``parser`` and every command below it, by their full name."""
    found = {name: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, command in action.choices.items():
                found.update(commands(command, f"{name} {sub}"))
    return found


def test_every_argument_has_help_text() -> None:
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.metavar or action.dest}"
        for name, command in commands(_parser()).items()
        for action in command._actions
        if action.help is None and not isinstance(action, argparse._SubParsersAction)
    ]

    assert missing == []


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["-v", "runs"], logging.INFO),
        (["runs", "-v"], logging.INFO),
        (["runs", "-vv"], logging.DEBUG),
        (["ci", "check", "--verbose"], logging.INFO),
    ],
)
def test_verbose_before_or_after_the_command(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], level: int
) -> None:
    code = main(argv)

    assert (code, logging.getLogger().level) == (0, level)
    assert capsys.readouterr().err.splitlines()[-1] in (
        "no runs yet",
        "generated workflow files are up to date",
    )
