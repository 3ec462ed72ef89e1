"""JSON Schemas compiled by fastjsonschema into a yes-or-no check, the compiled code
kept on disk between runs.

fastjsonschema turns a schema into Python source and compiles it: ~0.06 s of CPU for
nbformat's schema or the manifest's, a fifth of a cached no-op run. The compiled code
object is kept (:mod:`~nbflow.manifest.disk_cache`) under
``$XDG_CACHE_HOME/nbflow/schemas`` (default ``~/.cache``), named by a hash of the
schema, the Python version and the installed fastjsonschema, so a new schema or a new
fastjsonschema compiles again. A cache that cannot be read or written is skipped:
the check is only ever slower, never different. ``NBFLOW_SCHEMA_CACHE=0`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Any

from nbflow.manifest import disk_cache

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
        disk_cache.write(path, (name, code))
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
    installed = disk_cache.installed("fastjsonschema")
    if installed is None:
        return None
    return disk_cache.cache_file("schemas", "NBFLOW_SCHEMA_CACHE", installed, schema_text)


def _read(path: Path) -> tuple[str, CodeType] | None:
    kept = disk_cache.read(path)
    if not (isinstance(kept, tuple) and len(kept) == 2):
        return None
    name, code = kept
    return (name, code) if isinstance(name, str) and isinstance(code, CodeType) else None
