"""Values kept on disk between runs: what costs more to make than to read back.

Each value is kept (with :mod:`marshal`, as Python keeps ``.pyc`` files) under
``$XDG_CACHE_HOME/nbflow/<kind>`` (default ``~/.cache``), in a file named by a hash
of everything it was made from — the Python version, the code and files that made
it, its input — so a change to any of them makes a new file and an old one is never
read for it. A file that cannot be read or written is skipped: what uses the cache
is only ever slower, never different. Each kind has an environment variable that
turns it off (``=0``).

Users: :mod:`~nbflow.manifest.fast_schema` (compiled schema checks) and
:mod:`~nbflow.manifest.fast_yaml` (plain YAML files already read).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["cache_file", "installed", "read", "write"]


def cache_file(kind: str, switch: str, *made_from: str) -> Path | None:
    """The file keeping the value made from ``made_from``; None when the environment
    variable ``switch`` is ``0``."""
    if os.environ.get(switch) == "0":
        return None
    key = hashlib.sha256("\0".join((sys.version, *made_from)).encode()).hexdigest()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbflow" / kind / f"{key[:32]}.marshal"


def installed(package: str) -> str | None:
    """Which copy of ``package`` is installed (its file and modification time), for a
    key; None when it is not installed. Finds it without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    try:
        return f"{spec.origin}:{os.stat(spec.origin).st_mtime_ns}"
    except OSError:
        return None


def read(path: Path) -> Any:
    """The value kept at ``path``; None when there is none or it cannot be read."""
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None


def write(path: Path, value: Any) -> None:
    """Keep ``value`` at ``path`` (through a temporary file); any failure is ignored."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(marshal.dumps(value))
        tmp.replace(path)
    except (OSError, ValueError):  # ValueError: a value marshal cannot keep
        with contextlib.suppress(OSError):  # no folder to hold it: nothing to remove
            tmp.unlink(missing_ok=True)
