"""Pieces that did not reach ``nbflow assemble``: what the record says of their steps.

A job's artifact can be lost (expired, deleted, a download that failed) after the
steps after it ran. The record must not disagree with itself: a step recorded
``cancelled`` (never ran) while a later step succeeded with its outputs in its
parameters. Each piece carries the records of the steps it ran after (``upstream``,
store/pieces.py), so:

- a step, or an item of a ``foreach:`` step, whose own piece is missing but which a
  later step's piece shows final is recorded as that job saw it, its notebook
  missing (``notebook`` empty, nothing linked) and its ``reason`` saying so; one
  a later step saw ``skipped`` never ran (GitHub skipped its job, and the job of an
  ``run_if`` step recorded it as a local run does): it is recorded so, reason kept;
- an item no part finished and no later piece saw is ``cancelled`` (``MISSING_PART``)
  and its step settled, before the runner's settling, so the steps after it are
  ``skipped`` with the reason a local run gives (``needs 'region', which
  cancelled``), as the job of such a step says when it refuses to run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from nbflow.engine.sweep import settle_sweep
from nbflow.run_record import ItemRecord, RunRecord, StepRecord, StepStatus
from nbflow.store.pieces import Piece

log = logging.getLogger(__name__)

MISSING_PART = (
    "no part: the job of this item did not run, or its part was not passed to `nbflow assemble`"
)


def assembled_steps(found: Mapping[str, Piece], record: RunRecord) -> tuple[StepRecord, ...]:
    """``record``'s steps as the pieces ``found`` (by step id) tell them; a step with
    no piece and no later piece that saw it stays as the seed has it (pending)."""
    return tuple(_assembled(found, step) for step in record.steps)


def _assembled(found: Mapping[str, Piece], seed_step: StepRecord) -> StepRecord:
    piece = found.get(seed_step.id)
    if piece is not None and piece.step.status.is_final:
        return piece.step
    seen = _seen(found, seed_step.id)
    if seen is None:
        return seed_step if piece is None else _cancel_lost_items(piece)
    by, step = seen
    if piece is None and step.status is StepStatus.SKIPPED:
        return step  # never ran (its job was skipped): nothing of it is missing
    note = f"recorded from the piece of '{by}', which ran after it; its notebook is missing"
    if piece is None:
        log.warning("%s: no piece; %s", step.id, note)
        items = tuple(replace(i, notebook="") for i in step.items)
        return replace(step, notebook="", items=items, reason=f"no piece: {note}")
    by_index = {i.index: i for i in step.items}
    items = tuple(
        i
        if i.status.is_final or i.index not in by_index
        else _lost(step.id, by_index[i.index], note)
        for i in piece.step.items
    )
    return replace(step, items=items)


def _seen(found: Mapping[str, Piece], step_id: str) -> tuple[str, StepRecord] | None:
    """The first piece that ran after ``step_id`` and saw it final: its step and that record."""
    for by, piece in found.items():
        seen = piece.upstream.get(step_id)
        if seen is not None and seen.status.is_final:
            return by, seen
    return None


def _lost(step_id: str, item: ItemRecord, note: str) -> ItemRecord:
    log.warning("%s: no part; %s", item.label(step_id), note)
    return replace(item, notebook="", reason=f"no part: {note}")


def _cancel_lost_items(piece: Piece) -> StepRecord:
    items = tuple(
        i if i.status.is_final else replace(i, status=StepStatus.CANCELLED, reason=MISSING_PART)
        for i in piece.step.items
    )
    return settle_sweep(replace(piece.step, items=items), piece.output_names or ())
