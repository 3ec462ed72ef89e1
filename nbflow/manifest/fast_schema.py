"""JSON Schemas compiled by fastjsonschema into a yes-or-no check, the compiled code
kept on disk between runs.

fastjsonschema turns a schema into Python source and compiles it: ~0.06 s of CPU for
nbformat's schema or the manifest's, a fifth of a cached no-op run. The compiled code
object is kept (with :mod:`marshal`, as Python keeps ``.pyc`` files) under
``$XDG_CACHE_HOME/nbflow/schemas`` (default ``~/.cache``), named by a hash of the
schema, the Python version and the installed fastjsonschema, so a new schema or a new
fastjsonschema compiles again. A cache that cannot be read or written is skipped:
the check is only ever slower, never different. ``NBFLOW_SCHEMA_CACHE=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Any

__all__ = ["compiled_check"]


def compiled_check(schema_text: str) -> Callable[[Any], Any]:
    """fastjsonschema's ``validate`` for the schema ``schema_text`` (JSON): returns the
    data when valid, raises ``JsonSchemaException`` when not."""
    path = _cache_path(schema_text)
    kept = _read(path) if path else None
    name, code = kept or _compile(schema_text)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - fastjsonschema's generated checking code
    check = namespace.get(name)
    if not callable(check):  # not what fastjsonschema made: compile it the usual way
        import json

        import fastjsonschema

        return fastjsonschema.compile(json.loads(schema_text))
    if path and kept is None:
        _write(path, (name, code))
    return check  # type: ignore[no-any-return]


def _compile(schema_text: str) -> tuple[str, CodeType]:
    """fastjsonschema's code for the schema, and the name of its checking function
    (named after the schema's ``$id``, as ``fastjsonschema.compile`` finds it)."""
    import json

    import fastjsonschema
    from fastjsonschema.ref_resolver import RefResolver

    schema = json.loads(schema_text)
    name = RefResolver.from_schema(schema, handlers={}, store={}).get_scope_name()
    source = fastjsonschema.compile_to_code(schema)
    return name, compile(source, "<fastjsonschema>", "exec")


def _cache_path(schema_text: str) -> Path | None:
    if os.environ.get("NBFLOW_SCHEMA_CACHE") == "0":
        return None
    spec = importlib.util.find_spec("fastjsonschema")  # finds it, imports nothing
    if spec is None or spec.origin is None:
        return None
    try:
        installed = f"{spec.origin}:{os.stat(spec.origin).st_mtime_ns}"
    except OSError:
        return None
    key = hashlib.sha256(f"{sys.version}\0{installed}\0{schema_text}".encode()).hexdigest()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbflow" / "schemas" / f"{key[:32]}.marshal"


def _read(path: Path) -> tuple[str, CodeType] | None:
    try:
        name, code = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return (name, code) if isinstance(name, str) and isinstance(code, CodeType) else None


def _write(path: Path, code: tuple[str, CodeType]) -> None:
    """Keep ``code`` at ``path`` (through a temporary file); any failure is ignored."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(marshal.dumps(code))
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):  # no folder to hold it: nothing to remove
            tmp.unlink(missing_ok=True)
