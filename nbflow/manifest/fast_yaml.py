"""Reading plain YAML with libyaml, where it gives exactly what ruamel gives.

ruamel's round-trip parser keeps the positions every located manifest error needs,
but it is pure Python: ~40 ms for a 100-step manifest, a tenth of a no-op rerun.
Most manifests are plain: mappings, lists and one-line scalars. For those,
libyaml's node tree (PyYAML's C parser, a dependency of papermill's already) gives
the same values, and the same positions — both are the nodes' start marks — in a
tenth of the time.

Design decisions:

- Only what both read alike is read here: block and flow collections, text keys
  written once, and one-line scalars that are text, ``true``/``false``, null,
  integers and decimals in their plain forms (``-12``, ``0.5``) and dates
  (``2024-01-31``), resolved by YAML 1.2 as ruamel does (``on``, ``yes`` are text).
  An empty value (``key:``) declines: ruamel places it at the next token.
- Anything else declines (None) and ruamel reads the file as before, so every
  problem is found and reported by the same code, in the same words: a tag, an
  anchor or alias, a directive, a tab, a byte-order mark or a character ruamel
  refuses; a multi-line, block, or escaped scalar; a key that is not text or is
  written twice; a number or date in any other form (``1_000``, ``0x1f``, ``1e3``,
  ``2024-02-30``); nesting past the loader's limit; whatever libyaml refuses.
- The values come back in containers carrying ruamel's ``lc`` interface
  (``key``/``value``/``item`` positions, zero-based), so ``Document.source``
  locates them the same way whichever parser read them.
- What libyaml read is kept on disk (:mod:`~nbflow.manifest.disk_cache`, under
  ``nbflow/yaml``), values and positions, named by the text, this module's file and
  the installed PyYAML: the same file read again (a rerun, ``nbflow.yaml``) is read
  back without importing PyYAML, whose import (~16 ms: its reader compiles a pattern
  spanning Unicode) was a twentieth of a cached run. ``NBFLOW_YAML_CACHE=0`` turns
  it off; a kept file that cannot be read is read by libyaml again.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from pathlib import Path
from typing import Any

from nbflow.manifest import disk_cache
from nbflow.manifest.limits import MAX_DEPTH

__all__ = ["LocatedList", "LocatedMap", "parse"]

#: Characters ruamel's reader refuses (its NON_PRINTABLE), a tab, a byte-order
#: mark, a line break other than LF or CRLF, a ``%`` at a line start (a directive):
#: all left to ruamel. The classes span Unicode: ``re`` takes ~4 ms to compile them,
#: so they are compiled only for a text that is not ASCII (most manifests are).
_DECLINED = (
    "[^\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    "\U00010000-\U0010ffff]|\r(?!\n)|^%"
)
#: The same, for ASCII text: the characters below 128 the class above refuses.
_DECLINED_ASCII = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|^%", re.MULTILINE)
#: Plain scalars YAML 1.2 (ruamel's resolver) reads as numbers or dates in forms
#: not built here: left to ruamel.
_NUMBER_LIKE = re.compile(
    r"""[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)
    |[-+]?0b[0-1_]+
    |[-+]?0o?[0-7_]+
    |[-+]?[0-9_]+
    |[-+]?0x[0-9a-fA-F_]+
    |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?
     (?:(?:[Tt]|[\ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
        (?:[\ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)?""",
    re.VERBOSE,
)
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False}
_BOOLS["FALSE"] = False

_PLAIN, _QUOTED, _COLLECTION = "nbflow:plain", "nbflow:quoted", "nbflow:collection"


class _Declined(Exception):
    """Something this reader leaves to ruamel."""


class LocatedMap(dict[str, Any]):
    """A mapping that knows where its keys and values are written (ruamel's ``lc``)."""

    lc: _MapLines


class LocatedList(list[Any]):
    """A list that knows where its items are written (ruamel's ``lc``)."""

    lc: _ListLines


class _MapLines:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[int, int]] = {}
        self.values: dict[str, tuple[int, int]] = {}

    def key(self, name: str) -> tuple[int, int]:
        return self.keys[name]

    def value(self, name: str) -> tuple[int, int]:
        return self.values[name]


class _ListLines:
    def __init__(self) -> None:
        self.items: list[tuple[int, int]] = []

    def item(self, index: int) -> tuple[int, int]:
        return self.items[index]


class Parsed:
    """A document read here: its root mapping."""

    def __init__(self, root: LocatedMap) -> None:
        self.root = root


def parse(text: str) -> Parsed | None:
    """``text`` read by libyaml when its root is a mapping read exactly as ruamel
    reads it; None to leave it to ruamel (see the module docstring). A text read
    before is read back from the disk cache."""
    if _is_declined(text):
        return None
    path = _kept_file(text)
    if path and (kept := _unpacked(disk_cache.read(path))) is not None:
        return Parsed(kept)
    try:
        from yaml import YAMLError, nodes
        from yaml.cyaml import CParser
    except ImportError:  # PyYAML without libyaml would be no faster than ruamel
        return None
    try:
        parsed = _Reader(CParser, nodes, text).read()
    except (_Declined, YAMLError, RecursionError):
        return None
    if path and parsed:
        disk_cache.write(path, _packed(parsed.root))
    return parsed


def _kept_file(text: str) -> Path | None:
    """Where the reading of ``text`` is kept: named by the text, this reader (its
    file) and the installed PyYAML, so a new version of either reads it again."""
    installed = disk_cache.installed("yaml")
    try:
        reader = os.stat(__file__)
    except OSError:
        return None
    if installed is None:
        return None
    made_by = f"{__file__}:{reader.st_mtime_ns}:{reader.st_size}:{MAX_DEPTH}"
    return disk_cache.cache_file("yaml", "NBFLOW_YAML_CACHE", installed, made_by, text)


def _packed(value: Any) -> Any:
    """``value`` in the types marshal keeps: a mapping or list as a tuple that holds
    its positions, a date as a tuple (a scalar is never a tuple)."""
    if isinstance(value, LocatedMap):
        keys = tuple(value)
        return (
            "map",
            keys,
            tuple(_packed(v) for v in value.values()),
            tuple(value.lc.keys[k] for k in keys),
            tuple(value.lc.values[k] for k in keys),
        )
    if isinstance(value, LocatedList):
        return ("list", tuple(_packed(v) for v in value), tuple(value.lc.items))
    if isinstance(value, dt.date):
        return ("date", value.year, value.month, value.day)
    return value


def _unpacked(packed: Any) -> LocatedMap | None:
    """The root mapping ``_packed`` kept; None when ``packed`` is not one."""
    try:
        root = _value_of(packed)
    except (ValueError, TypeError):
        return None
    return root if isinstance(root, LocatedMap) else None


def _value_of(packed: Any) -> Any:
    if not isinstance(packed, tuple):
        return packed
    kind, *parts = packed
    if kind == "map":
        keys, values, key_at, value_at = parts
        mapping = LocatedMap(zip(keys, map(_value_of, values), strict=True))
        mapping.lc = lines = _MapLines()
        lines.keys = dict(zip(keys, key_at, strict=True))
        lines.values = dict(zip(keys, value_at, strict=True))
        return mapping
    if kind == "list":
        values, at = parts
        items = LocatedList(map(_value_of, values))
        items.lc = _ListLines()
        items.lc.items = list(at)
        return items
    if kind == "date":
        return dt.date(*parts)
    raise ValueError(f"not a kept value: {kind!r}")


def _is_declined(text: str) -> bool:
    """Whether ``text`` holds a character, line break or directive left to ruamel."""
    if text.isascii():
        return _DECLINED_ASCII.search(text) is not None
    return _declined_text().search(text) is not None


@functools.cache
def _declined_text() -> re.Pattern[str]:
    return re.compile(_DECLINED, re.MULTILINE)


class _Reader:
    def __init__(self, composer: Any, nodes: Any, text: str) -> None:
        self.nodes, self.lines = nodes, text.split("\n")
        self.seen: set[int] = set()

        class Composer(composer):  # type: ignore[misc]
            """libyaml's composer, marking how each node's tag was decided."""

            def descend_resolver(self, *_: Any) -> None:
                pass  # no path-dependent resolvers

            def ascend_resolver(self) -> None:
                pass

            def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
                if kind is not nodes.ScalarNode:
                    return _COLLECTION if implicit else "!"
                if implicit[0]:
                    return _PLAIN
                return _QUOTED if implicit[1] else "!"

        self.composer = Composer(text)

    def read(self) -> Parsed | None:
        try:
            root = self.composer.get_single_node()
        finally:
            self.composer.dispose()
        if not isinstance(root, self.nodes.MappingNode):
            return None  # empty, or not a mapping: ruamel reports it
        value = self._value(root, 1)
        assert isinstance(value, LocatedMap)
        return Parsed(value)

    def _value(self, node: Any, depth: int) -> Any:
        if id(node) in self.seen or depth > MAX_DEPTH:
            raise _Declined  # an alias, or nested too deep
        self.seen.add(id(node))
        if self._text(node.start_mark, 1) in ("!", "&", "*"):
            raise _Declined  # a tag or an anchor in front of the value
        if isinstance(node, self.nodes.ScalarNode):
            return self._scalar(node)
        if node.tag != _COLLECTION:
            raise _Declined
        if isinstance(node, self.nodes.SequenceNode):
            items = LocatedList(self._value(child, depth + 1) for child in node.value)
            items.lc = _ListLines()
            items.lc.items = [_at(child) for child in node.value]
            return items
        mapping = LocatedMap()
        mapping.lc = lines = _MapLines()
        for key_node, value_node in node.value:
            key = self._value(key_node, depth + 1)
            if not isinstance(key, str) or key in mapping:
                raise _Declined  # a key that is not text, or a duplicate
            mapping[key] = self._value(value_node, depth + 1)
            lines.keys[key], lines.values[key] = _at(key_node), _at(value_node)
        return mapping

    def _scalar(self, node: Any) -> Any:
        start, end, style = node.start_mark, node.end_mark, node.style or ""
        if node.tag == _PLAIN and not style and node.value:
            return _plain_value(node.value)  # on one line, or folded
        if node.tag != _QUOTED:
            raise _Declined
        if style in ("|", ">"):
            return node.value  # a literal or folded block
        raw = self._text(start, end.column - start.column) if start.line == end.line else ""
        if style == "'" and raw and raw[1:-1].replace("''", "'") == node.value:
            return node.value
        if style == '"' and raw and raw[1:-1] == node.value:
            return node.value  # no escapes
        raise _Declined  # a quoted scalar on several lines, or with escapes

    def _text(self, mark: Any, length: int) -> str:
        """The ``length`` characters written from ``mark`` on its line."""
        line = self.lines[mark.line] if mark.line < len(self.lines) else ""
        return line[mark.column : mark.column + length]


def _at(node: Any) -> tuple[int, int]:
    return (node.start_mark.line, node.start_mark.column)


def _plain_value(text: str) -> Any:
    """A plain scalar as YAML 1.2 (ruamel's resolver) reads it, or _Declined."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text in ("<<", "="):
        raise _Declined  # a merge key, a value key: ruamel keeps them tagged
    if text[0] not in "-+.0123456789" or not _NUMBER_LIKE.fullmatch(text):
        return text
    if _INT.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    if date := _DATE.fullmatch(text):
        try:
            return dt.date(*(int(part) for part in date.groups()))
        except ValueError:
            raise _Declined from None  # 2024-02-30: ruamel reports it (unbuilt.py)
    raise _Declined
