"""Check what decides whether and when a step runs: ``run_if:``, ``if:``,
``wait_for:`` and ``sla:`` (the workflow's and each step's).

Design decisions:

- The semantic checker calls :meth:`ControlCheck.step` once per step and
  :meth:`ControlCheck.workflow` once; the schema has already checked each key's
  shape, so what cannot be read is skipped here.
- A condition's syntax error points at the column of its cause inside the quoted
  value (manifest/conditions.py gives the offset); a value spread over lines, or
  written with escapes, is pointed at as a whole.
- A condition's names are checked as any other reference (reference_check.py): a
  declared parameter, an output an upstream step records. A condition cannot read
  a secret, not even as ``env.X``: its values are shown in the step's record.
- ``wait_for:`` paths go through the reference check too; a URL whose protocol
  fsspec does not know is an error, one whose package is missing here (s3fs) only
  a warning: the machine that runs the workflow may have it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbflow.errors import Problem, Source
from nbflow.manifest.document import Document, KeyPath, as_dict, as_list
from nbflow.manifest.durations import parse_duration
from nbflow.manifest.expressions import find_references
from nbflow.manifest.reference_check import ReferenceCheck
from nbflow.manifest.remote import protocol_problem

__all__ = ["ControlCheck"]

Add = Callable[[KeyPath, str, str], None]


@dataclass
class ControlCheck:
    """The checks of one manifest; ``add`` and ``warn`` record problems and warnings."""

    doc: Document
    references: ReferenceCheck
    add: Add
    warn: Add
    problems: list[Problem]

    def workflow(self) -> None:
        """The workflow's ``sla:``."""
        self._positive_duration(("sla",), self.doc.data.get("sla"))

    def step(self, index: int, step: dict[str, Any]) -> None:
        """One step's ``run_if:``, ``if:``, ``wait_for:`` and ``sla:``."""
        path: KeyPath = ("steps", index)
        self._positive_duration((*path, "sla"), step.get("sla"))
        if step.get("run_if") == "any_failed" and step.get("needs", [None]) == []:
            self.add(
                (*path, "run_if"),
                "a step that needs nothing never sees a failure, so `run_if: any_failed` "
                "never runs it",
                "list the steps whose failure it reports under `needs:`",
            )
        if isinstance(step.get("if"), str):
            self._condition((*path, "if"), step["if"], index)
        wait_for = as_dict(step.get("wait_for"))
        for name in ("timeout", "every"):
            self._positive_duration((*path, "wait_for", name), wait_for.get(name))
        for position, pattern in enumerate(as_list(wait_for.get("paths"))):
            if isinstance(pattern, str):
                self._wait_path((*path, "wait_for", "paths", position), pattern, index)

    # -- conditions -----------------------------------------------------------------

    def _condition(self, path: KeyPath, text: str, index: int) -> None:
        from nbflow.manifest.conditions import ConditionError, parse_condition  # `if:` only

        try:
            condition = parse_condition(text)
        except ConditionError as exc:
            self.problems.append(
                Problem(self._at(path, text, exc.offset), self.doc.keypath(path), str(exc))
            )
            return
        secrets = [s for s in as_list(self.doc.data.get("secrets")) if isinstance(s, str)]
        for ref in condition.references:
            if ref.kind == "env" and ref.name in secrets:
                problem: tuple[str, str] | None = (
                    f"'{ref.text}': a condition cannot read a secret (its values are shown "
                    "in the step's record)",
                    "decide in the notebook, which reads it with nbflow.secret(...)",
                )
            else:
                problem = self.references.reference_problem(ref, index, to_notebook=False)
            if problem:
                offset = text.find(ref.text)
                where = self._at(path, text, offset if offset >= 0 else None)
                self.problems.append(Problem(where, self.doc.keypath(path), *problem))

    def _at(self, path: KeyPath, text: str, offset: int | None) -> Source:
        """Where ``offset`` of the value ``text`` at ``path`` is: its column when the
        value is written on one line as it reads (plain or quoted, no escapes)."""
        source = self.doc.source(path)
        if offset is None or source.line > len(self._lines):
            return source
        line = self._lines[source.line - 1]
        start = source.col - 1
        quoted = line[start : start + 1] in ("'", '"')
        body = start + 1 if quoted else start
        if line[body : body + len(text)] != text:
            return source
        return Source(source.file, source.line, body + offset + 1)

    @functools.cached_property
    def _lines(self) -> list[str]:
        try:
            return self.doc.file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []

    # -- waiting and durations ----------------------------------------------------

    def _wait_path(self, path: KeyPath, pattern: str, index: int) -> None:
        if any(ref.kind == "item" for ref in find_references(pattern)):
            self.add(
                path,
                "a step waits once, before its items: `wait_for:` cannot use ${{ item }}",
                "wait for every item's files (a glob), or in the notebook",
            )
            return
        self.problems.extend(self.references.problems(path, pattern, step_index=index))
        if "${{" in pattern.split("://", 1)[0]:
            return  # the protocol is known only at run time
        problem = protocol_problem(pattern)
        if problem:
            message, fix, only_missing_here = problem
            (self.warn if only_missing_here else self.add)(path, message, fix)

    def _positive_duration(self, path: KeyPath, value: Any) -> None:
        if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
            return
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.add(path, str(exc), "")
            return
        if seconds <= 0:
            self.add(path, f"{path[-1]} must be longer than 0, got {value!r}", "e.g. '30m'")
