"""A cycle among the steps' ``needs``, found and located: what the manifest's checks
report (``semantic_check.py``) and what planning refuses (``plan.py``), so the spec
layer needs nothing from the planner.
"""

from __future__ import annotations

from collections.abc import Sequence

from nbflow.errors import Problem
from nbflow.manifest.model import Step


def find_cycle(steps: Sequence[Step]) -> list[str] | None:
    """A cycle among ``needs`` as a list of step ids (first repeated last), or None.

    Depth-first, with an explicit stack: a chain of thousands of steps must not
    exhaust Python's recursion limit."""
    needs = {s.id: list(s.needs) for s in steps}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for step in steps:
        if step.id in state:
            continue
        path, pending = [step.id], [iter(needs[step.id])]
        state[step.id] = 1
        while pending:
            for nxt in pending[-1]:
                if nxt not in needs:
                    continue
                if state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                if nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    pending.append(iter(needs[nxt]))
                    break
            else:
                state[path.pop()] = 2
                pending.pop()
    return None


def cycle_problem(workflow_steps: Sequence[Step], cycle: list[str]) -> Problem:
    """A located problem describing a cycle."""
    first = next(s for s in workflow_steps if s.id == cycle[0])
    index = workflow_steps.index(first)
    return Problem(
        first.needs_sources[0] if first.needs_sources else first.source,
        f"steps[{index}] ({first.id}).needs",
        "cycle: " + " -> ".join(cycle),
        "remove one of these needs so the steps form a graph without loops",
    )
