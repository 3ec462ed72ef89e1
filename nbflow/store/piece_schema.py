"""Check a seed or a piece read from disk against ``pieces.schema.json`` before use.

Pieces travel between machines as plain files (artifacts, buckets, volumes), so one
may be truncated, hand-edited or of another tool; JSON of the wrong shape must be
bad input (exit 2) naming the file, the key and what is wrong, as a manifest error
does, never a traceback. Keys the schema does not list are ignored, as the run
record ignores them. jsonschema is imported, and the validator built, on first use.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from nbflow.errors import UsageError
from nbflow.manifest.values import type_name

_PHRASES = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}
_WHAT = {"piece": "a step piece", "seed": "a run seed"}


def check_shape(path: Path, data: Any, kind: str) -> None:
    """UsageError naming ``path``, the key and the problem unless ``data`` is a
    ``kind`` ("piece" or "seed") as nbflow writes it."""
    errors = sorted(_validator(kind).iter_errors(data), key=_position)
    if errors:
        raise UsageError(f"{path}: not {_WHAT[kind]}: {_explain(errors[0])}")


def _position(error: Any) -> tuple[int, list[tuple[int, Any]]]:
    """The first place in the file first: shallow before deep, ``[2]`` before ``[10]``."""
    path = list(error.absolute_path)
    return len(path), [(0, k) if isinstance(k, int) else (1, str(k)) for k in path]


def _explain(error: Any) -> str:
    where = _where(error.absolute_path)
    prefix = f"{where}: " if where else ""
    if error.validator == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        expected = " or ".join(_PHRASES.get(n, n) for n in names)
        return f"{prefix}expected {expected}, got {type_name(error.instance)}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"{prefix}missing key '{missing[0]}'"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{prefix}unknown value {json.dumps(error.instance)}; expected one of: {allowed}"
    if error.validator == "additionalProperties":
        allowed = ", ".join(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
        return f"{prefix}unknown key '{extra[0]}'; allowed keys: {allowed}"
    return f"{prefix}{error.message}"


def _where(path: Sequence[Any]) -> str:
    """``items[0].status`` for the path ``("items", 0, "status")``."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else str(key)
    return text


@functools.cache
def _validator(kind: str) -> Any:
    import jsonschema

    text = resources.files("nbflow.store").joinpath("pieces.schema.json").read_text("utf-8")
    schema = json.loads(text)
    return jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{kind}"})
