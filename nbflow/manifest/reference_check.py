"""Check the ``${{ … }}`` references in a manifest against what it declares.

Design decisions:

- ``params.X`` must be a declared parameter, ``secrets.X`` a declared secret, and
  ``steps.S.outputs.X`` an output that step ``S`` records (its notebook calls
  ``nbflow.record``) or lists under ``outputs:``, where ``S`` is upstream of the step
  using it. Step outputs only exist in step parameters, ``inputs:``, ``produces:`` and
  ``foreach:``.
- ``${{ item }}``, ``${{ item.index }}`` and ``${{ item.KEY }}`` only exist in the
  parameters, ``inputs:`` and ``produces:`` of a step with ``foreach:``; a KEY must be
  a key of every item when the items are known before the run (a grid, a literal
  list of mappings).
- A secret never reaches a notebook, not even through ``env.X``: notebooks read
  secrets with ``nbflow.secret(...)``, so a secret is never saved in an executed notebook.
- :class:`ReferenceCheck` shares the semantic checker's ``needs`` and ``notebooks``
  and reads them as they fill up: a step's references are checked once every need is
  known and the notebooks of the steps before it have been read.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from nbflow.errors import Problem
from nbflow.manifest import expressions
from nbflow.manifest.document import Document, KeyPath, as_dict, as_list
from nbflow.manifest.foreach_check import item_keys
from nbflow.manifest.notebooks import NotebookInfo
from nbflow.manifest.suggestions import did_you_mean

__all__ = ["ReferenceCheck"]


@dataclass
class ReferenceCheck:
    """The references of one manifest; ``steps`` as the semantic checker reads them."""

    doc: Document
    steps: list[dict[str, Any]]
    step_ids: list[str]
    needs: Mapping[int, list[str]]  # effective, by step index
    notebooks: Mapping[int, NotebookInfo]  # by step index, for steps whose notebook was read
    check_notebooks: bool

    def problems(self, path: KeyPath, value: Any, *, step_index: int | None) -> list[Problem]:
        """Syntax errors and unknown references in every string in ``value`` at ``path``."""
        problems: list[Problem] = []
        for subpath, text in _strings(path, value):
            for message in expressions.syntax_errors(text):
                problems.append(self.doc.problem(subpath, message))
            for ref in expressions.find_references(text):
                if ref.kind == "item":
                    problem = self._item_problem(ref, subpath, step_index)
                else:
                    problem = self.reference_problem(ref, step_index)
                if problem:
                    problems.append(self.doc.problem(subpath, *problem))
        return problems

    def reference_problem(
        self, ref: expressions.Reference, step_index: int | None, *, to_notebook: bool = True
    ) -> tuple[str, str] | None:
        """What is wrong with ``ref`` used by the step at ``step_index`` (None: outside
        the steps), as (message, fix); None when nothing is. ``to_notebook``: the value
        reaches the step's notebook, so no secret may be in it."""
        if to_notebook and step_index is not None and (problem := self._secret_in_notebook(ref)):
            return problem
        if ref.kind == "params":
            declared = list(as_dict(self.doc.data.get("parameters")))
            if ref.name not in declared:
                fix = did_you_mean(ref.name, declared) or "declare it under `parameters:`"
                return f"{ref.text}: unknown parameter '{ref.name}'", fix
        if ref.kind == "secrets":
            declared = [s for s in as_list(self.doc.data.get("secrets")) if isinstance(s, str)]
            if ref.name not in declared:
                fix = did_you_mean(ref.name, declared) or f"add {ref.name} to `secrets:`"
                return f"{ref.text}: undeclared secret '{ref.name}'", fix
        if ref.kind == "steps":
            return self._output_problem(ref, step_index)
        return None

    def _item_problem(
        self, ref: expressions.Reference, path: KeyPath, step_index: int | None
    ) -> tuple[str, str] | None:
        """``${{ item }}`` exists only in a foreach step, outside its ``foreach:``."""
        if step_index is None:
            return f"{ref.text}: only a step with `foreach:` has an item", ""
        me = self.steps[step_index].get("id", f"steps[{step_index}]")
        if len(path) > 2 and path[2] == "foreach":
            return (
                f"{ref.text}: the item is not known while `foreach:` is read",
                "name a list: ${{ params.NAME }} or ${{ steps.ID.outputs.NAME }}",
            )
        if "foreach" not in self.steps[step_index]:
            return (
                f"{ref.text}: only a step with `foreach:` has an item",
                f"add `foreach:` to step '{me}' or remove the expression",
            )
        keys = item_keys(self.steps[step_index]["foreach"])
        if ref.name in ("", "index") or keys is None or ref.name in keys:
            return None
        if not keys:
            return (
                f"{ref.text}: the items of step '{me}' are not all mappings with keys",
                "pass the item whole (${{ item }}), or make every item a mapping",
            )
        return (
            f"{ref.text}: the items of step '{me}' have no key '{ref.name}'",
            did_you_mean(ref.name, keys) or f"their keys are: {', '.join(keys)}",
        )

    def _secret_in_notebook(self, ref: expressions.Reference) -> tuple[str, str] | None:
        declared = [s for s in as_list(self.doc.data.get("secrets")) if isinstance(s, str)]
        if ref.kind == "secrets" or (ref.kind == "env" and ref.name in declared):
            return (
                f"{ref.text}: a secret is never written into a notebook",
                f'read it in the notebook with nbflow.secret("{ref.name}")',
            )
        return None

    def _output_problem(
        self, ref: expressions.Reference, step_index: int | None
    ) -> tuple[str, str] | None:
        assert ref.step is not None
        known = self.step_ids
        if step_index is None:
            return f"{ref.text}: step outputs can only be used in step parameters", ""
        if ref.step not in known:
            fix = did_you_mean(ref.step, known) or f"steps are: {', '.join(known)}"
            return f"{ref.text}: unknown step '{ref.step}'", fix
        me = self.steps[step_index].get("id", f"steps[{step_index}]")
        if not self._is_upstream(ref.step, step_index):
            return (
                f"{ref.text}: step '{ref.step}' is not upstream of '{me}'",
                f"add '{ref.step}' to the needs of '{me}'",
            )
        source_index = known.index(ref.step)
        outputs = self._outputs(source_index)
        if outputs is not None and ref.name not in outputs:
            notebook = self.steps[source_index].get("notebook")
            fix = did_you_mean(ref.name, outputs) or (
                f'record it in {notebook} with `nbflow.record("{ref.name}", value)` '
                f"or list it under the `outputs:` of step '{ref.step}'"
            )
            return f"{ref.text}: step '{ref.step}' does not record output '{ref.name}'", fix
        return None

    def _outputs(self, index: int) -> list[str] | None:
        """Outputs a step records or declares; None when its notebook was not read."""
        declared = [o for o in as_list(self.steps[index].get("outputs")) if isinstance(o, str)]
        info = self.notebooks.get(index)
        if info is None:
            return None if not declared or not self.check_notebooks else declared
        return [*info.records, *declared]

    @functools.cached_property
    def _index_of(self) -> dict[str, int]:
        return {s["id"]: i for i, s in enumerate(self.steps) if isinstance(s.get("id"), str)}

    def _is_upstream(self, step_id: str, index: int) -> bool:
        """Whether ``step_id`` is needed, directly or not, by the step at ``index``.
        A need naming no step (a typo, reported on its own) may hide the path: then
        the answer is yes, so the typo is not followed by advice to add needs."""
        ids = self._index_of
        seen: set[str] = set()
        pending = list(self.needs.get(index, ()))
        unresolved = False
        while pending:
            current = pending.pop()
            if current == step_id:
                return True
            if current not in ids:
                unresolved = True
            if current in seen or current not in ids:
                continue
            seen.add(current)
            pending.extend(self.needs.get(ids[current], ()))
        return unresolved


def _strings(path: KeyPath, value: Any) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings((*path, key), item)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _strings((*path, position), item)
