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
    code = _read(path) if path else None
    if code is None:
        code = _compile(schema_text)
        if path:
            _write(path, code)
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - fastjsonschema's generated checking code
    check: Callable[[Any], Any] = namespace["validate"]
    return check


def _compile(schema_text: str) -> CodeType:
    import json

    import fastjsonschema

    source = fastjsonschema.compile_to_code(json.loads(schema_text))
    return compile(source, "<fastjsonschema>", "exec")


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


def _read(path: Path) -> CodeType | None:
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def _write(path: Path, code: CodeType) -> None:
    """Keep ``code`` at ``path`` (through a temporary file); any failure is ignored."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(marshal.dumps(code))
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):  # no folder to hold it: nothing to remove
            tmp.unlink(missing_ok=True)
