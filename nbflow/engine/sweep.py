"""Parameter sweeps: a ``foreach:`` step runs once per item.

Design decisions:

- The runner expands a foreach step when it becomes ready (its list may be an
  upstream step's output) into one item per entry; each item is one executor call,
  like a step, so items run concurrently within ``--jobs`` on every executor (local
  kernels, Dask) and the runner stays the single writer of the record.
- ``foreach: {grid: {model: [svc, forest], depth: [1, 3]}}`` is the cartesian
  product of its keys' values, the first key varying slowest (itertools.product in
  the manifest's key order, engine/parameters.py): ``{model: svc, depth: 1}``,
  ``{model: svc, depth: 3}``, ``{model: forest, depth: 1}``, ``{model: forest,
  depth: 3}``. Each item is a mapping, read with ``${{ item.KEY }}``;
  ``${{ item.index }}`` stays its position, so no grid key is named ``index`` (the
  manifest check refuses it).
- An item's notebook is ``<step>.<index>.ipynb``: step ids cannot hold a dot, so the
  name is unambiguous, and an index is file-safe whatever the item's value (a grid
  item's ``model=svc,depth=1`` names it to people, in logs too: run_record.item_name).
- The step is failed when an item failed (the other items still finish, and keep
  their notebooks), cancelled when an item was cancelled, cached when every item
  was (see engine/cache.py: items are cached one by one), succeeded otherwise.
- The step's outputs, for the steps that need it, map each output name to the list
  of the items' values in item order (None for an item that did not record it).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from nbflow.engine.cache import RunCache
from nbflow.engine.parameters import resolve_foreach
from nbflow.engine.recorder import Recorder
from nbflow.engine.step_task import StepTask
from nbflow.engine.tasks import Tasks
from nbflow.errors import NbflowError
from nbflow.manifest.model import Step, Workflow
from nbflow.manifest.notebooks import inspect_notebook
from nbflow.manifest.values import jsonable
from nbflow.run_record import (
    ItemRecord,
    StepError,
    StepRecord,
    StepStatus,
    seconds_between,
    utc_now,
)

log = logging.getLogger(__name__)

#: An item to execute: its step, its index and its task.
QueuedItem = tuple[Step, int, StepTask]


class Sweeps:
    """The foreach steps of one run: expanded into items when ready, settled when
    their items end."""

    def __init__(
        self,
        workflow: Workflow,
        params: Mapping[str, Any],
        tasks: Tasks,
        cache: RunCache,
        recorder: Recorder,
        chosen: Mapping[str, frozenset[int]],
    ) -> None:
        self.workflow, self.params, self.tasks = workflow, params, tasks
        self.cache, self.recorder = cache, recorder
        self.chosen = chosen  # per step, the only items to execute (a matrix job's share)
        self.queued: collections.deque[QueuedItem] = collections.deque()

    def expand(self, step: Step) -> bool:
        """Resolve a foreach step's items and queue those to execute; True when the
        step settled at once (its list could not be resolved, is empty, or every item
        is done already).

        An item the run being resumed finished with the same value and parameters
        keeps its notebook and outputs; with ``chosen`` items for this step, only
        those execute and the others stay pending (a matrix job runs a share of the
        items; ``nbflow assemble`` joins the shares)."""
        earlier = {i.index: i for i in self.recorder.step(step.id).items}
        current = replace(self.recorder.step(step.id), start=utc_now(), attempts=(), error=None)
        outputs = self.tasks.upstream_outputs(step)
        context = self.tasks.run_context
        try:
            values = resolve_foreach(self.workflow, step, self.params, outputs, context)
            tasks = [self.tasks.task(step, (index, value)) for index, value in enumerate(values)]
        except NbflowError as exc:
            error = StepError(type(exc).__name__, str(exc))
            failed = replace(current, status=StepStatus.FAILED, error=error, end=current.start)
            self.recorder.update(replace(failed, duration=0.0))
            return True
        items = tuple(
            _done_before(
                ItemRecord(
                    index, value, notebook=task.output.name, parameters=dict(task.parameters)
                ),
                earlier.get(index),
            )
            for index, (value, task) in enumerate(zip(values, tasks, strict=True))
        )
        items = self.cache.items(step, items, tasks)
        chosen = self.chosen.get(step.id)
        queue = [
            (step, item.index, task)
            for item, task in zip(items, tasks, strict=True)
            if not item.status.is_done and (chosen is None or item.index in chosen)
        ]
        log.info("%s: %d item(s), %d to execute", step.id, len(items), len(queue))
        self.recorder.update(replace(current, status=StepStatus.RUNNING, items=items))
        self.queued.extend(queue)
        if all(i.status.is_done for i in items):
            names = output_names(self.workflow, step)
            self.recorder.update(settle_sweep(self.recorder.step(step.id), names))
            return True
        return False

    def start_next(self) -> tuple[Step, ItemRecord, StepTask]:
        """The next queued item, recorded as running."""
        step, index, task = self.queued.popleft()
        item = self.recorder.step(step.id).items[index]
        item = replace(item, status=StepStatus.RUNNING, start=utc_now())
        self.update_item(step.id, item)
        return step, item, task

    def update_item(self, step_id: str, item: ItemRecord) -> None:
        """Record a change of one item; the step settles once every item is final."""
        current = self.recorder.step(step_id)
        items = tuple(item if i.index == item.index else i for i in current.items)
        updated = replace(current, items=items)
        if all(i.status.is_final for i in items):
            updated = settle_sweep(
                updated, output_names(self.workflow, self.workflow.step(step_id))
            )
        self.recorder.update(updated)


def output_names(workflow: Workflow, step: Step) -> list[str]:
    """The outputs a step records or declares, for a sweep's list of each."""
    try:
        records = inspect_notebook(workflow.notebook_path(step)).records
    except (OSError, ValueError, NbflowError):
        records = ()
    return [*records, *step.outputs]


def _done_before(item: ItemRecord, earlier: ItemRecord | None) -> ItemRecord:
    """``earlier`` when the run being resumed finished that item with the same value
    and parameters (its notebook is in the run folder), else ``item`` with the
    attempts ``earlier`` made."""
    if earlier is None:
        return item
    same = jsonable([earlier.value, earlier.parameters]) == jsonable([item.value, item.parameters])
    if not same:
        return item
    return earlier if earlier.status.is_done else replace(item, attempts=earlier.attempts)


def settle_sweep(step: StepRecord, output_names: Iterable[str] = ()) -> StepRecord:
    """``step`` once every item is final: its status, times, error and outputs."""
    items = step.items
    starts = [i.start for i in items if i.start]
    ends = [i.end for i in items if i.end]
    start = min(starts) if starts else step.start
    end = max(ends) if ends else step.end
    duration = seconds_between(start, end) if start and end else None
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
