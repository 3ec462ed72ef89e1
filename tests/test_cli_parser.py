"""The command line's parser: options anywhere the docs show them, help for each."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from nbflow.cli import COMMANDS, _parser, main


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


def test_the_commands_table_names_each_command_as_its_parser_does() -> None:
    listed = [name.split()[1] for name in commands(_parser()) if name.count(" ") == 1]

    assert listed == list(COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_argv_starting_with_a_command_builds_that_command_alone_the_same(
    command: str,
) -> None:
    """``nbflow run …`` builds the parser of ``run`` only; it and every command below it
    parse and explain themselves as in the parser of every command (the top level's
    own help, which lists the commands, is only shown by the full parser)."""
    full, alone = commands(_parser()), commands(_parser(command))
    del alone["nbflow"]

    assert [name.split()[1] for name in alone if name.count(" ") == 1] == [command]
    for name, parser in alone.items():
        assert parser.format_help() == full[name].format_help(), name
        assert parser.format_usage() == full[name].format_usage(), name


def test_a_usage_error_after_a_command_reads_as_with_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "wf", "--no-such-option"])
    alone = capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "wf", "--no-such-option"])

    assert exited.value.code == 2
    assert alone == capsys.readouterr().err
    assert "unrecognized arguments: --no-such-option" in alone
