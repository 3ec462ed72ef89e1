"""Bounds on what the loader will read, so no input can hang it or crash it.

A manifest is a few dozen lines, a few levels deep. Inputs far outside that are
refused with a located problem before they can do harm:

- size: more than :data:`MAX_BYTES` is refused before parsing (ruamel parses in
  pure Python, several seconds per megabyte; a real manifest is a few kilobytes);
- depth: nesting deeper than :data:`MAX_DEPTH` is refused as ruamel composes the
  node tree, level by level (its composer and every later check recurse, and its
  scanner slows down with each open flow level: ``[[[[…`` 10,000 deep would take
  seconds, then overflow the stack);
- aliases: ruamel keeps an alias as a reference to its anchored node, but the checks
  walk plain data, where each alias is a copy: nine levels of nine aliases ("billion
  laughs") become 10⁹ values. The node graph is measured with every alias expanded
  (each node counted once per path to it) and refused past :data:`MAX_VALUES`;
  an alias inside its own anchor (``&a [*a]``) is refused as recursive.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbflow.errors import ManifestError, Problem, Source

MAX_BYTES = 256 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000

SMALLER = "a manifest needs only a few levels and a few hundred values; see docs/manifest.md"


def check_size(path: Path, raw: bytes) -> None:
    if len(raw) > MAX_BYTES:
        raise _error(
            Source(path, 1, 1),
            f"the manifest is too large ({len(raw):,} bytes; the limit is {MAX_BYTES:,})",
        )


def limit_depth(composer: Any, path: Path) -> None:
    """Make ruamel's ``composer`` refuse nodes nested deeper than MAX_DEPTH, before
    composing them (it recurses once per level)."""
    compose = composer.compose_node
    depth = 0

    def compose_node(parent: Any, index: Any) -> Any:
        nonlocal depth
        depth += 1
        try:
            if depth > MAX_DEPTH:
                mark = composer.parser.peek_event().start_mark
                raise _error(_at(path, mark), f"nested more than {MAX_DEPTH} levels deep")
            return compose(parent, index)
        finally:
            depth -= 1

    composer.compose_node = compose_node


def check_aliases(path: Path, root: Any) -> None:
    """Refuse a recursive alias, or a node graph larger than MAX_VALUES expanded."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the path from the root to the current node
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            open_nodes.discard(id(node))
            sizes[id(node)] = size = 1 + sum(sizes[id(c)] for c in _children(node))
            if size > MAX_VALUES:
                raise _error(
                    _at(path, node.start_mark),
                    f"too many values (more than {MAX_VALUES:,}, aliases expanded)",
                )
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            raise _error(_at(path, node.start_mark), "recursive alias: a node contains itself")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)


def _children(node: Any) -> Iterator[Any]:
    value = node.value
    if not isinstance(value, list):
        return
    for item in value:
        if isinstance(item, tuple):
            yield from item
        else:
            yield item


def _at(path: Path, mark: Any) -> Source:
    return Source(path, mark.line + 1, mark.column + 1) if mark else Source(path, 1, 1)


def _error(source: Source, message: str) -> ManifestError:
    return ManifestError([Problem(source, "", message, SMALLER)])
