"""The YAML pieces a generated GitHub Actions file is made of: mappings whose keys keep
the order they are written in, ``run:`` steps (several lines become a literal block)
and ``uses:`` steps pinned to a commit with the version as a comment. ruamel is
imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nbflow.github.pins import Pin


def mapping(items: Iterable[tuple[str, Any]] = ()) -> Any:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap(items)


def run_step(
    name: str, *, run: Sequence[str], condition: str = "", env: Mapping[str, str] | None = None
) -> Any:
    """A ``run:`` step; several lines become a literal block."""
    step = mapping([("name", name)])
    if condition:
        step["if"] = condition
    if env:
        step["env"] = mapping(sorted(env.items()))
    step["run"] = literal_lines(run)
    return step


def uses_step(pin: Pin, **with_: Any) -> Any:
    step = mapping([("uses", f"{pin.action}@{pin.sha}")])
    step.yaml_add_eol_comment(f"# {pin.version}", "uses")
    step["with"] = mapping(with_.items())
    return step


def literal_lines(items: Sequence[str]) -> Any:
    """One line as text, several as a literal block."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    return items[0] if len(items) == 1 else LiteralScalarString("\n".join(items) + "\n")
