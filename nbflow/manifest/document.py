"""Read ``workflow.yaml`` into a :class:`Document`: plain data plus where each value is.

Design decisions:

- The file is read within :mod:`~nbflow.manifest.limits` (size, depth, aliases)
  and must be UTF-8; anything that stops reading it is one located problem.
- ruamel parses round-trip, so positions survive (``lc.key``/``lc.value``/``lc.item``,
  zero-based, turned 1-based in :class:`~nbflow.errors.Source`). Duplicate keys are
  allowed while parsing and all reported afterwards from the node tree.
- A plain manifest is read by libyaml instead (:mod:`~nbflow.manifest.fast_yaml`:
  the same values and positions, a tenth of the time); anything it is not sure to
  read as ruamel does is left to ruamel, so every problem is reported by ruamel's path.
- Checks read :attr:`Document.data`, plain Python whose shape may still be wrong;
  :func:`as_dict` and :func:`as_list` let them skip what they cannot read.
- ruamel is imported inside the functions that parse: importing this module is cheap.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbflow.errors import ManifestError, Problem, Source
from nbflow.manifest import fast_yaml, limits
from nbflow.manifest.values import type_name

if TYPE_CHECKING:
    from nbflow.manifest.constructor import Unbuilt

__all__ = ["Document", "KeyPath", "as_dict", "as_list", "duplicate_key_problems", "read_document"]

#: Where a value sits in the manifest, e.g. ``("steps", 1, "needs", 0)``.
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """A parsed manifest: plain data for checks, containers with positions (``lc``)."""

    file: Path
    root: Any  # ruamel CommentedMap, or fast_yaml's LocatedMap
    data: dict[str, Any]
    node: Any  # ruamel MappingNode, for duplicate keys (None: read by fast_yaml)
    unbuilt: tuple[Unbuilt, ...] = ()  # scalars built as text (2024-02-30), see unbuilt.py

    def source(self, path: KeyPath, *, key: bool = False) -> Source:
        """Where the value (or, with ``key``, the key) at ``path`` is written."""
        line, col = 0, 0
        current = self.root
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            found = _position(current, part, key=key and last)
            if found is None:
                break
            where, current = found
            if isinstance(where, tuple) and len(where) == 2 and None not in where:
                line, col = where  # a merged key (`<<: *base`) has no position of its own
        return Source(self.file, line + 1, col + 1)

    def keypath(self, path: KeyPath) -> str:
        """``steps[1] (load).needs[0]`` for ``("steps", 1, "needs", 0)``."""
        text = ""
        for depth, part in enumerate(path):
            if isinstance(part, int):
                text += f"[{part}]"
                if depth == 1 and path[0] == "steps":
                    text += _step_label(self.data, part)
            else:
                text += f".{part}" if text else str(part)
        return text

    def problem(self, path: KeyPath, message: str, fix: str = "", *, key: bool = False) -> Problem:
        """A problem located at the value (or, with ``key``, the key) at ``path``."""
        return Problem(self.source(path, key=key), self.keypath(path), message, fix)


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one (its shape is reported elsewhere)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one (its shape is reported elsewhere)."""
    return value if isinstance(value, list) else []


def _position(container: Any, part: str | int, *, key: bool) -> tuple[Any, Any] | None:
    lc = getattr(container, "lc", None)
    if lc is None:
        return None
    try:
        if isinstance(part, int) and isinstance(container, list):
            return lc.item(part), container[part]
        if isinstance(container, Mapping):
            actual = next(k for k in container if k == part or str(k) == part)
            where = lc.key(actual) if key else lc.value(actual)
            return where, container[actual]
    except (StopIteration, IndexError, KeyError, TypeError):
        return None
    return None


def _step_label(data: Mapping[str, Any], index: int) -> str:
    steps = data.get("steps")
    if isinstance(steps, list) and index < len(steps) and isinstance(steps[index], Mapping):
        step_id = steps[index].get("id")
        if isinstance(step_id, str):
            return f" ({step_id})"
    return ""


# --------------------------------------------------------------------------- reading


def read_document(path: Path) -> Document:
    """Parse ``path``; a ManifestError for anything that stops reading it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError([Problem(None, "", f"{path}: manifest not found")]) from None
    except OSError as exc:
        raise ManifestError([Problem(None, "", f"{path}: {exc.strerror}")]) from exc
    limits.check_size(path, raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([_encoding_problem(path, raw, exc)]) from None
    root, node, unbuilt = _parse_yaml(path, text)
    if root is None:
        raise ManifestError(
            [
                Problem(
                    Source(path, 1, 1),
                    "",
                    "the manifest is empty",
                    "it needs at least `name:` and `steps:` (see docs/manifest.md)",
                )
            ]
        )
    if not isinstance(root, Mapping):
        raise ManifestError(
            [
                Problem(
                    Source(path, 1, 1),
                    "",
                    "expected a mapping of manifest keys (name, steps, ...), "
                    f"got {type_name(root)}",
                )
            ]
        )
    return Document(path, root, _plain(root), node, unbuilt)


def _encoding_problem(path: Path, raw: bytes, exc: UnicodeDecodeError) -> Problem:
    before = raw[: exc.start]
    line = before.count(b"\n") + 1
    col = exc.start - (before.rfind(b"\n") + 1) + 1
    return Problem(
        Source(path, line, col),
        "",
        f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
        "save the file as UTF-8",
    )


def _parse_yaml(path: Path, text: str) -> tuple[Any, Any, tuple[Unbuilt, ...]]:
    """libyaml's parse of a plain manifest (fast_yaml.py), else ruamel's round-trip
    parse, keeping the node tree so duplicate keys can all be reported, and the
    scalars that could only be built as text (see unbuilt.py)."""
    fast = fast_yaml.parse(text)
    if fast is not None:
        return fast.root, None, ()
    return _parse_round_trip(path, text)


def _parse_round_trip(path: Path, text: str) -> tuple[Any, Any, tuple[Unbuilt, ...]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from nbflow.manifest.constructor import constructor_class

    yaml = YAML()
    yaml.Constructor = constructor_class()
    yaml.allow_duplicate_keys = True  # reported, with positions, by duplicate_key_problems
    _start_document(yaml)
    try:
        constructor, parser = yaml.get_constructor_parser(io.StringIO(text))
        limits.limit_depth(constructor.composer, path)
        try:
            node = constructor.composer.get_single_node()
            if node is not None:
                limits.check_aliases(path, node)
            data = None if node is None else _construct(path, constructor, node)
        finally:
            parser.dispose()
    except MarkedYAMLError as exc:
        raise ManifestError([_yaml_problem(path, text, exc)]) from None
    except YAMLError as exc:
        problem = _reader_problem(path, text, exc)
        raise ManifestError([problem]) from None
    return data, node, tuple(constructor.unbuilt)


def _start_document(yaml: Any) -> None:
    """What ``YAML.load`` does before parsing, without which a ``%YAML 1.1`` directive
    raised IndexError from ruamel's scanner."""
    try:
        from ruamel.yaml.docinfo import DocInfo, version
    except ImportError:  # older ruamel keeps no document info
        return
    yaml.doc_infos.append(DocInfo(requested_version=version(yaml.version)))


def _construct(path: Path, constructor: Any, node: Any) -> Any:
    """Build the document. A scalar that cannot be built (``2024-02-30``, ``!!int x``)
    is built as its text and reported later (see unbuilt.py); anything else ruamel
    cannot build still raises plain Python errors, turned here into one problem
    instead of a traceback."""
    from nbflow.manifest.constructor import BUILD_ERRORS

    try:
        return constructor.construct_document(node)
    except BUILD_ERRORS as exc:
        mark = node.start_mark
        problem = Problem(
            Source(path, mark.line + 1, mark.column + 1),
            "",
            f"invalid YAML: a value cannot be built ({exc})",
            "check explicit tags and the values they apply to",
        )
        raise ManifestError([problem]) from None


def _reader_problem(path: Path, text: str, exc: Any) -> Problem:
    """ruamel's ReaderError (control characters) has an offset, not a mark."""
    offset, char = getattr(exc, "position", None), getattr(exc, "character", None)
    if not isinstance(offset, int) or not isinstance(char, int | str):
        return Problem(Source(path, 1, 1), "", "invalid YAML: " + " ".join(str(exc).split()))
    before = text[:offset]
    line, col = before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
    code = char if isinstance(char, int) else ord(char)
    return Problem(
        Source(path, line, col),
        "",
        f"invalid YAML: control character #x{code:04x} is not allowed",
        "remove it",
    )


def _yaml_problem(path: Path, text: str, exc: Any) -> Problem:
    from nbflow.manifest.yaml_errors import explain_yaml_error

    mark = exc.problem_mark or exc.context_mark
    source = Source(path, mark.line + 1, mark.column + 1) if mark else Source(path, 1, 1)
    return Problem(source, "", *explain_yaml_error(exc, text))


def _plain(value: Any) -> Any:
    """ruamel values → plain Python (dates and datetimes kept as such)."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime):
        return dt.datetime.fromisoformat(value.isoformat())
    if str(getattr(value, "tag", "")) in _TEXT_TAGS and isinstance(value.value, str):
        return str(value.value)
    return value


#: Tags ruamel keeps on a scalar (a ``TaggedScalar``) that still mean text: ``!!str
#: 2024-01-31`` (YAML's way to say "not a date"), and a lone ``=`` or ``<<`` as a value.
_TEXT_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "value", "merge")}


# --------------------------------------------------------------------------- duplicate keys


def duplicate_key_problems(doc: Document) -> list[Problem]:
    """Every key written twice in one mapping, located at its second use."""
    if doc.node is None:
        return []  # read by fast_yaml, which leaves a duplicate key to ruamel
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    problems: list[Problem] = []
    pending: list[tuple[Any, KeyPath]] = [(doc.node, ())]
    while pending:
        node, path = pending.pop()
        if isinstance(node, SequenceNode):
            pending.extend((child, (*path, i)) for i, child in enumerate(node.value))
        if not isinstance(node, MappingNode):
            continue
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            name = getattr(key_node, "value", None)
            if not isinstance(name, str):
                continue
            mark = key_node.start_mark
            if name in seen:
                problems.append(
                    Problem(
                        Source(doc.file, mark.line + 1, mark.column + 1),
                        doc.keypath((*path, name)),
                        f"duplicate key '{name}' (first written on line {seen[name]})",
                        "remove one of them",
                    )
                )
                continue
            seen[name] = mark.line + 1
            pending.append((value_node, (*path, name)))
    return problems
