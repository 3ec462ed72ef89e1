"""The text of ``run.json``: ``json.dumps(record.to_json(), indent=2)``, to the byte,
built from pieces so a running run does not serialise every step on every save.

A run's record is saved after every change of one of its steps; serialising the
whole record each time made a save O(steps), and a run O(steps²). :class:`RecordText`
keeps each step's JSON text from one save to the next and serialises a step again
only when its record is a new object (records are frozen: a change is a new
record). The text of the record around the steps is small and made each time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import compress, count
from operator import is_not
from typing import Any

from nbflow.run_record import RunRecord, StepRecord

_STEP_INDENT = "\n    "  # a step is an item of the top-level "steps" list: two levels deep


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def step_text(step: StepRecord) -> str:
    """``step``'s JSON as it appears inside run.json's ``steps`` list (indented for it,
    without the first line's indent). JSON strings hold no raw newline, so each
    newline of the text starts a line of the layout."""
    return _dumps(step.to_json()).replace("\n", _STEP_INDENT)


def record_text(record: RunRecord, steps: Sequence[str] | None = None) -> str:
    """run.json's text for ``record``, whose steps' texts (:func:`step_text`) are
    ``steps`` when given: the same bytes as ``json.dumps(record.to_json(), indent=2,
    ensure_ascii=False)`` and a newline. The steps are joined into the text in one
    copy (a 1,000-step record is ~800 KB, made on every save of a running run)."""
    if steps is None:
        steps = [step_text(step) for step in record.steps]
    before: list[str] = []  # the fields' lines before "steps", then those after
    after: list[str] | None = None
    for key, value in record.json_with_steps(()).items():
        if key == "steps":
            after = []
            continue
        text = _dumps(value).replace("\n", "\n  ")
        (before if after is None else after).append(f"  {_dumps(key)}: {text}")
    lines = "".join(f"{line},\n" for line in before)
    rest = "".join(f",\n{line}" for line in after or ())
    if not steps:
        return f'{{\n{lines}  "steps": []{rest}\n}}\n'
    pieces = list(steps)
    pieces[0] = f'{{\n{lines}  "steps": [\n    {pieces[0]}'
    pieces[-1] = f"{pieces[-1]}\n  ]{rest}\n}}\n"
    return ",\n    ".join(pieces)


class RecordText:
    """run.json's text for successive records of one run, each step's JSON text kept
    while its record stays the same object. The steps are compared with the last
    record's by identity in one pass in C (``map(is_not)``): a save of a 1,000-step run
    serialises the step that changed and joins the kept pieces, with no Python-level
    work per unchanged step."""

    def __init__(self) -> None:
        self._steps: tuple[StepRecord, ...] = ()  # the steps of the last record
        self._pieces: list[str] = []  # their texts, in the same order

    def text(self, record: RunRecord) -> str:
        steps = record.steps
        if len(steps) != len(self._steps):
            self._steps, self._pieces = steps, [step_text(step) for step in steps]
        elif steps is not self._steps:
            for position in compress(count(), map(is_not, steps, self._steps)):
                self._pieces[position] = step_text(steps[position])
            self._steps = steps
        return record_text(record, self._pieces)
