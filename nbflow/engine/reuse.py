"""Whether a step not selected may lend its latest result to the steps that need it.

``--steps``, ``--changed`` and the commit hook run some steps only; a selected step
that needs one not selected receives that step's outputs from the latest run where
it succeeded — but only when that result is what the step would produce now: its
fingerprint (resolved parameters, notebook source, declared inputs, the outputs of
the steps it needs: engine/fingerprint.py) equals the one it would have in this run,
and the files it declares under ``produces:`` are there. Otherwise the step runs
too, and the record says why (``its last result was for run_date=2026-12-02``).

Only the *latest* result counts, not an older one that happens to match: the files
on disk are the latest run's, and outputs that disagree with them are worse than
running the step again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbflow.run_record import StepRecord

_SHOWN = 60  # characters of a parameter value shown in a reason


@dataclass(frozen=True)
class EarlierResult:
    """A step's latest done result, and the run it is in."""

    run_id: str
    step: StepRecord


def refusal(
    earlier: EarlierResult | None,
    fingerprint: str | None,
    parameters: Mapping[str, Any],
    missing: Sequence[str] = (),
) -> str | None:
    """None when ``earlier`` may stand in for a step that would now have
    ``fingerprint`` and receive ``parameters``; else why the step runs (``missing``:
    the ``produces:`` globs that match no file)."""
    if earlier is None:
        return "no earlier run has a result of it"
    since = f"(run {earlier.run_id})"
    if fingerprint is None:
        return f"its inputs cannot be read to compare them with its last result {since}"
    if earlier.step.fingerprint != fingerprint:
        changed = _changed_parameters(earlier.step.parameters, parameters)
        if changed:
            return f"its last result was for {changed} {since}"
        return f"its notebook, inputs or upstream outputs changed since its last result {since}"
    if missing:
        return f"the files it produces are gone ({missing[0]} matches none) {since}"
    return None


def _changed_parameters(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """``run_date=2026-12-02, limit=3``: the earlier values of the parameters that differ."""
    names = [*before, *(n for n in now if n not in before)]
    return ", ".join(
        f"{name}={_show(before[name])}" if name in before else f"no {name}"
        for name in names
        if before.get(name, _ABSENT) != now.get(name, _ABSENT)
    )


_ABSENT = object()


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 1]}…"
