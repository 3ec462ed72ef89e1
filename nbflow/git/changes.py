"""Which steps a set of commits touches. Pure: no Git, no disk.

The caller supplies the paths changed between two revisions (relative to the top
of the work tree) and the manifest's plain data at both revisions; Git lives in
``store/repo.py`` and the wiring in ``affected.py``.

Design decisions:

- A step is *touched* when its notebook changed, a file matching one of its
  ``inputs:`` changed, or its manifest entry changed (compared with its
  effective ``needs``, so removing or reordering the step above counts).
- A changed workflow parameter touches only the steps that *use* it (the caller
  says which: parameters cell names and ``${{ params.X }}`` in the step's
  ``parameters:``). Changed ``defaults`` or ``secrets`` touch every step; the
  other workflow-level keys (``name``, ``description``, ``on``, ``notify``,
  ``commit``) change no result and touch nothing.
- A workflow with no manifest at BASE is new: every step is touched.
- ``inputs:`` patterns are globs relative to the workflow folder; ``*`` and
  ``?`` stay inside one path segment, ``**`` spans any number, a
  ``${{ … }}`` expression matches like ``*``, and a pattern naming a folder
  covers the files under it.
- The selection to run is the touched steps and everything downstream, plus any
  step they need, directly or not, that has no earlier successful run to reuse
  outputs from (without it the run could not start those steps).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from nbflow.manifest.model import Workflow
from nbflow.plan import downstream, topological_order, upstream

__all__ = ["matches_input", "select_steps", "touched_steps"]

_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
ALL_STEPS_KEYS = ("defaults", "secrets")


def touched_steps(
    workflow: Workflow,
    folder: str,
    changed: Collection[str],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    uses: Mapping[str, Collection[str]],
) -> dict[str, str]:
    """The steps of ``workflow`` touched by a change, each with the first reason.

    Args:
        folder: the workflow folder, relative to the top of the work tree.
        changed: the changed paths, relative to the top of the work tree.
        before, after: the manifest's plain data at BASE (None: none) and at HEAD.
        uses: for each step id, the workflow parameters it uses.
    """
    reasons: dict[str, str] = {}
    for step_id, reason in _reasons(workflow, folder, changed, before, after, uses):
        reasons.setdefault(step_id, reason)
    return {s.id: reasons[s.id] for s in workflow.steps if s.id in reasons}


def _reasons(
    workflow: Workflow,
    folder: str,
    changed: Collection[str],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    uses: Mapping[str, Collection[str]],
) -> Iterable[tuple[str, str]]:
    if before is None:
        yield from ((s.id, "new workflow") for s in workflow.steps)
        return
    yield from _file_reasons(workflow, folder, changed)
    yield from _manifest_reasons(workflow, before, after, uses)


def _file_reasons(
    workflow: Workflow, folder: str, changed: Collection[str]
) -> Iterable[tuple[str, str]]:
    for step in workflow.steps:
        if posixpath.join(folder, step.notebook) in changed:
            yield step.id, f"notebook {step.notebook} changed"
        for pattern in step.inputs:
            for path in changed:
                if matches_input(posixpath.join(folder, pattern), path):
                    yield step.id, f"input {path} changed"


def _manifest_reasons(
    workflow: Workflow,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    uses: Mapping[str, Collection[str]],
) -> Iterable[tuple[str, str]]:
    old, new = _entries(before), _entries(after)
    for step in workflow.steps:
        if old.get(step.id) != new.get(step.id):
            yield step.id, "manifest entry changed" if step.id in old else "new step"
    for key in ALL_STEPS_KEYS:
        if before.get(key) != after.get(key):
            yield from ((s.id, f"workflow {key} changed") for s in workflow.steps)
    old_params, new_params = _mapping(before.get("parameters")), _mapping(after.get("parameters"))
    for name in sorted(set(old_params) | set(new_params)):
        if old_params.get(name) != new_params.get(name):
            users = (s.id for s in workflow.steps if name in uses.get(s.id, ()))
            yield from ((s, f"parameter {name} changed") for s in users)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _entries(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each step's entry by id, with ``needs`` made explicit (the step above)."""
    steps = data.get("steps")
    entries: dict[str, dict[str, Any]] = {}
    previous: list[Any] = []
    for spec in steps if isinstance(steps, list) else ():
        if isinstance(spec, Mapping) and isinstance(spec.get("id"), str):
            entries[spec["id"]] = {"needs": previous, **spec}
            previous = [spec["id"]]
    return entries


def matches_input(pattern: str, path: str) -> bool:
    """Whether ``path`` (or a folder above it) matches the glob ``pattern``; both
    relative to the same folder, POSIX separators."""
    pattern = posixpath.normpath(_EXPRESSION.sub("*", pattern))
    wanted, parts = pattern.split("/"), posixpath.normpath(path).split("/")
    return any(_match(wanted, parts[:end]) for end in range(1, len(parts) + 1))


def _match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return (
        bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _match(pattern[1:], parts[1:])
    )


def select_steps(
    workflow: Workflow, touched: Iterable[str], reusable: Callable[[str], bool]
) -> tuple[str, ...]:
    """The steps to run, in plan order: ``touched``, everything downstream of them,
    and each step they need that is not ``reusable`` (no earlier successful run,
    or the files it produces are gone)."""
    selected = downstream(workflow, touched)
    needed = upstream(workflow, selected) - selected
    selected |= {s for s in needed if not reusable(s)}
    return tuple(s for s in topological_order(workflow.steps) if s in selected)
