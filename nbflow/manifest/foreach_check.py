"""Check a step's ``foreach:``: a literal list, one expression naming a list, or a grid.

Design decisions:

- A list is non-empty; an expression is exactly one ``${{ params.X }}`` (a list
  parameter) or ``${{ steps.ID.outputs.NAME }}``; whether an output is a list is only
  known at run time.
- ``{grid: {KEY: VALUES, …}}`` has only the key ``grid``, at least one KEY, each a
  name (``^[A-Za-z_][A-Za-z0-9_]*$``: it is read as ``${{ item.KEY }}``) other than
  ``index`` (``${{ item.index }}`` is always the position), and VALUES a non-empty
  list without repeats (two equal items would have one name) or one expression as
  above. The product is expanded when the step starts (engine/sweep.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nbflow.manifest import expressions
from nbflow.manifest.document import KeyPath, as_dict

__all__ = ["ForeachCheck", "item_keys"]

_LISTS = ("params", "steps")  # what a `foreach:` expression may name
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPRESSION_FIX = (
    'write a list ([eu, us]), "${{ params.NAME }}" (a list parameter) '
    'or "${{ steps.ID.outputs.NAME }}"'
)


def item_keys(foreach: Any) -> list[str] | None:
    """The keys every item of ``foreach:`` (plain manifest data) has, when known before
    the run: a grid's keys, or those shared by a literal list of mappings (an empty
    list when an item is not a mapping); None for an expression."""
    if isinstance(foreach, Mapping):
        return [k for k in as_dict(foreach.get("grid")) if isinstance(k, str)]
    if not isinstance(foreach, list) or not foreach:
        return None
    if not all(isinstance(item, Mapping) for item in foreach):
        return []
    first = [k for k in foreach[0] if isinstance(k, str)]
    return [k for k in first if all(k in item for item in foreach)]


@dataclass
class ForeachCheck:
    """The checks of one ``foreach:``; problems go to ``add`` (path, message, fix), and
    expressions to ``check_expressions`` (path, value) of the step."""

    add: Callable[[KeyPath, str, str], None]
    add_key: Callable[[KeyPath, str, str], None]  # a problem located at the key itself
    check_expressions: Callable[[KeyPath, Any], None]
    parameters: Mapping[str, Any]  # the manifest's `parameters:`

    def check(self, path: KeyPath, foreach: Any) -> None:
        if isinstance(foreach, dict):
            self._grid(path, foreach)
        else:
            self._list(path, foreach, "foreach")

    def _list(self, path: KeyPath, value: Any, what: str) -> None:
        """A literal list of items, or one expression naming a list."""
        if isinstance(value, list):
            if not value:
                empty = (
                    "an empty `foreach:` list" if what == "foreach" else f"{what} lists nothing: it"
                )
                self.add(path, f"{empty} runs nothing", "list at least one item")
            self.check_expressions(path, value)
            return
        if not isinstance(value, str):
            return
        refs = expressions.find_references(value)
        if len(refs) != 1 or value.strip() != refs[0].text or refs[0].kind not in _LISTS:
            shown = f"foreach '{value}'" if what == "foreach" else f"{what}: '{value}'"
            self.add(
                path, f"{shown} is neither a list nor an expression naming one", _EXPRESSION_FIX
            )
            return
        self.check_expressions(path, value)
        spec = as_dict(self.parameters.get(refs[0].name))
        if refs[0].kind == "params" and spec.get("type") not in (None, "list"):
            self.add(
                path,
                f"{refs[0].text}: parameter '{refs[0].name}' has type {spec['type']}, not list",
                f"declare it with `type: list` under `parameters: {refs[0].name}:`",
            )

    def _grid(self, path: KeyPath, foreach: dict[str, Any]) -> None:
        """Its shape (only ``grid``, a mapping with a key at least) is the schema's to
        check (schema_check): here, each key and its values."""
        grid = foreach.get("grid")
        for key, values in grid.items() if isinstance(grid, dict) else ():
            self._axis((*path, "grid", key), key, values)

    def _axis(self, path: KeyPath, key: Any, values: Any) -> None:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            self.add_key(
                path,
                f"grid key '{key}' is not a name",
                "use letters, digits and '_', not starting with a digit: it is read as "
                "${{ item.KEY }}",
            )
        elif key == "index":
            self.add_key(
                path,
                "grid key 'index' would hide the item's position (${{ item.index }})",
                "name the key otherwise, e.g. `position` or `fold`",
            )
        if isinstance(values, list) and len(values) != len(_unique(values)):
            self.add(
                path,
                f"grid key '{key}' lists a value twice",
                "list each value once: two equal items would have one name and one result",
            )
        if isinstance(values, list | str):
            self._list(path, values, f"grid key '{key}'")
        else:
            self.add(
                path,
                f"grid key '{key}' has {json.dumps(values, default=str)}, not a list",
                f"write its values as a list: `{key}: [{json.dumps(values, default=str)}]`",
            )


def _unique(values: list[Any]) -> set[str]:
    return {json.dumps(v, sort_keys=True, default=str) for v in values}
