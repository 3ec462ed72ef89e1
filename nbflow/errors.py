"""The NbflowError tree.

Expected failures subclass :class:`NbflowError`; the command line prints them as one
message without a traceback and maps each class to a documented exit code. Every
error can carry where it happened (a :class:`~nbflow.manifest.model.Source`) and
how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """A position in a file: 1-based line and column."""

    file: Path
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class NbflowError(Exception):
    """Base class of every expected nbflow failure."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located and with a fix where one is known."""

    source: Source | None
    path: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        """``FILE:LINE:COL: key.path: message; fix``, always one line."""
        where = f"{self.source}: " if self.source else ""
        key = f"{self.path}: " if self.path else ""
        fix = f"; {self.fix}" if self.fix else ""
        return _one_line(f"{where}{key}{self.message}{fix}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _one_line(text: str) -> str:
    """Control characters (a newline in a quoted key or value) escaped, as in repr."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class ManifestError(NbflowError):
    """One or more problems in a manifest (or a notebook it names)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(NbflowError):
    """Bad command-line input: unknown workflow, bad -p value, unknown step."""


class ExecutionError(NbflowError):
    """A step could not be executed (not a failing cell: that is a failed step)."""

    exit_code = 1


class StoreError(NbflowError):
    """A run folder or a Git operation failed."""

    exit_code = 1


class WriteError(StoreError):
    """A file nbflow writes (a run record, a report, a notebook) could not be written:
    a full disk, a quota, a read-only folder. Names the file."""


class UnpublishedCommitsError(StoreError):
    """``--push`` would publish commits of the user's along with the run: refused."""

    exit_code = 2


class RunLockedError(NbflowError):
    """Another run of the same workflow holds the checkout's run lock: busy, try later.

    Exit code 75 is sysexits' EX_TEMPFAIL ("try again later"), so a scheduler can
    tell a busy checkout from a failed step (1) or bad input (2)."""

    exit_code = 75


class ConfigError(NbflowError):
    """The project settings file (``nbflow.yaml``) cannot be read or has a bad value."""
