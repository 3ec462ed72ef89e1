"""Planning: manifest + selection → Plan. Pure: no disk, no kernels, no Git.

A plan lists the steps to execute in a topological order that keeps the
manifest's order among independent steps, grouped into layers whose steps may run
concurrently. Steps outside the selection are not executed; a step that needs one
of them reuses what an earlier run recorded (the caller supplies those outputs).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nbflow.errors import ManifestError, UsageError
from nbflow.manifest.model import Step, Workflow
from nbflow.manifest.step_graph import cycle_problem, find_cycle
from nbflow.manifest.suggestions import did_you_mean


@dataclass(frozen=True)
class Plan:
    """Which steps to execute, in what order."""

    workflow: Workflow
    order: tuple[str, ...]  # every step of the workflow, topologically sorted
    selected: frozenset[str]  # the steps to execute

    @property
    def steps(self) -> tuple[Step, ...]:
        """The selected steps, in execution order."""
        return tuple(self.workflow.step(s) for s in self.order if s in self.selected)

    def layers(self) -> list[list[str]]:
        """Selected steps grouped so that every step comes after all it needs."""
        depth: dict[str, int] = {}
        for step_id in self.order:
            needs = self.workflow.step(step_id).needs
            depth[step_id] = 1 + max((depth[n] for n in needs), default=-1)
        result: dict[int, list[str]] = {}
        for step_id in self.order:
            if step_id in self.selected:
                result.setdefault(depth[step_id], []).append(step_id)
        return [result[d] for d in sorted(result)]


def topological_order(steps: Sequence[Step]) -> tuple[str, ...]:
    """Kahn's algorithm, taking ready steps in manifest order (a heap of indexes)."""
    if cycle := find_cycle(steps):
        raise ManifestError([cycle_problem(steps, cycle)])
    index = {s.id: i for i, s in enumerate(steps)}
    waiting = {s.id: len({n for n in s.needs if n in index}) for s in steps}
    dependants: dict[str, list[str]] = {s.id: [] for s in steps}
    for step in steps:
        for need in {n for n in step.needs if n in index}:
            dependants[need].append(step.id)
    ready = [index[s.id] for s in steps if not waiting[s.id]]
    heapq.heapify(ready)
    done: list[str] = []
    while ready:
        step_id = steps[heapq.heappop(ready)].id
        done.append(step_id)
        for dependant in dependants[step_id]:
            waiting[dependant] -= 1
            if not waiting[dependant]:
                heapq.heappush(ready, index[dependant])
    return tuple(done)


def downstream(workflow: Workflow, roots: Iterable[str]) -> set[str]:
    """``roots`` and every step that needs one of them, directly or not."""
    result = set(roots)
    for step_id in topological_order(workflow.steps):
        if set(workflow.step(step_id).needs) & result:
            result.add(step_id)
    return result


def upstream(workflow: Workflow, roots: Iterable[str]) -> set[str]:
    """``roots`` and every step they need, directly or not."""
    result: set[str] = set()
    pending = list(roots)
    while pending:
        step_id = pending.pop()
        if step_id not in result:
            result.add(step_id)
            pending.extend(workflow.step(step_id).needs)
    return result


def check_step_ids(workflow: Workflow, ids: Iterable[str]) -> None:
    """Raise UsageError for ids that name no step, with a suggestion."""
    known = [s.id for s in workflow.steps]
    for step_id in ids:
        if step_id not in known:
            hint = "; " + (did_you_mean(step_id, known) or f"steps are: {', '.join(known)}")
            raise UsageError(f"{workflow.name}: unknown step '{step_id}'{hint}")


def plan_run(
    workflow: Workflow,
    steps: Iterable[str] | None = None,
    *,
    done: Mapping[str, object] | None = None,
) -> Plan:
    """Plan a run of ``workflow``.

    Args:
        steps: execute only these steps (None: all).
        done: steps whose results are already known (resume, cached): not executed.
    """
    order = topological_order(workflow.steps)
    wanted = set(order) if steps is None else set(steps)
    check_step_ids(workflow, wanted)
    return Plan(workflow, order, frozenset(wanted - set(done or {})))
