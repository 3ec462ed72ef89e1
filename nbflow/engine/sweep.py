"""Parameter sweeps: a ``foreach:`` step runs once per item.

Design decisions:

- The runner expands a foreach step when it becomes ready (its list may be an
  upstream step's output) into one item per entry; each item is one executor call,
  like a step, so items run concurrently within ``--jobs`` on every executor (local
  kernels, Dask) and the runner stays the single writer of the record.
- ``foreach: {grid: {model: [svc, forest], depth: [1, 3]}}`` is the cartesian
  product of its keys' values, the first key varying slowest (itertools.product in
  the manifest's key order): ``{model: svc, depth: 1}``, ``{model: svc, depth: 3}``,
  ``{model: forest, depth: 1}``, ``{model: forest, depth: 3}``. Each item is a
  mapping, read with ``${{ item.KEY }}``; ``${{ item.index }}`` stays its position, so
  no grid key is named ``index`` (the manifest check refuses it).
- An item's notebook is ``<step>.<index>.ipynb``: step ids cannot hold a dot, so the
  name is unambiguous, and an index is file-safe whatever the item's value (a grid
  item's ``model=svc,depth=1`` names it to people: run_record.item_name).
- The step is failed when an item failed (the other items still finish, and keep
  their notebooks), cancelled when an item was cancelled, cached when every item
  was (see engine/cache.py: items are cached one by one), succeeded otherwise.
- The step's outputs, for the steps that need it, map each output name to the list
  of the items' values in item order (None for an item that did not record it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from nbflow.run_record import ItemRecord, StepError, StepRecord, StepStatus, parse_time

__all__ = ["expand_grid", "item_notebook", "settle_sweep"]


def expand_grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The items of a grid: one mapping per combination of the keys' values, the
    first key varying slowest."""
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def item_notebook(step_id: str, index: int) -> str:
    """The executed notebook of item ``index``, relative to the run folder."""
    return f"{step_id}.{index}.ipynb"


def settle_sweep(step: StepRecord, output_names: Iterable[str] = ()) -> StepRecord:
    """``step`` once every item is final: its status, times, error and outputs."""
    items = step.items
    starts = [i.start for i in items if i.start]
    ends = [i.end for i in items if i.end]
    start = min(starts) if starts else step.start
    end = max(ends) if ends else step.end
    duration = None
    if start and end:
        duration = round((parse_time(end) - parse_time(start)).total_seconds(), 3)
    return replace(
        step,
        status=_status(items),
        start=start,
        end=end,
        duration=duration,
        error=_error(step.id, items),
        outputs=_outputs(items, output_names),
        reason=_reason(items),
    )


def _status(items: tuple[ItemRecord, ...]) -> StepStatus:
    statuses = {i.status for i in items}
    if StepStatus.FAILED in statuses:
        return StepStatus.FAILED
    if statuses - {StepStatus.SUCCEEDED, StepStatus.CACHED}:
        return StepStatus.CANCELLED
    if statuses == {StepStatus.CACHED}:
        return StepStatus.CACHED
    return StepStatus.SUCCEEDED


def _error(step_id: str, items: tuple[ItemRecord, ...]) -> StepError | None:
    """The first failed item's error, naming the item (for notifications)."""
    for item in items:
        if item.status == StepStatus.FAILED and item.error is not None:
            error = item.error
            return replace(error, evalue=f"{item.label(step_id)}: {error.evalue}")
    return None


def _reason(items: tuple[ItemRecord, ...]) -> str:
    failed = sum(1 for i in items if i.status == StepStatus.FAILED)
    if failed:
        return f"{failed} of {len(items)} items failed"
    return ""


def _outputs(items: tuple[ItemRecord, ...], names: Iterable[str]) -> dict[str, list[object]]:
    every = dict.fromkeys([n for i in items for n in i.outputs] + list(names))
    return {name: [i.outputs.get(name) for i in items] for name in every}
