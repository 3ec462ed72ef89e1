"""fsspec URLs in a manifest (``wait_for:`` paths): which protocol, and whether it can
be listed here.

fsspec is an optional extra (``nbflow-workflows[remote]``), imported only when a URL
is checked; each protocol needs its own package as well (s3fs for ``s3://``, gcsfs
for ``gs://``). ``file://`` and plain paths never need fsspec.
"""

from __future__ import annotations

import re

__all__ = ["REMOTE_EXTRA", "protocol_of", "protocol_problem"]

REMOTE_EXTRA = "pip install 'nbflow-workflows[remote]'"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def protocol_of(pattern: str) -> str | None:
    """``s3`` for ``s3://bucket/x``; None for a local path or a ``file://`` URL."""
    match = _SCHEME.match(pattern)
    if match is None or match.group(1).lower() == "file":
        return None
    return match.group(1).lower()


def protocol_problem(pattern: str) -> tuple[str, str, bool] | None:
    """Why ``pattern``'s URL cannot be listed here: (message, fix, whether it is only a
    missing package, which another machine may have); None when it can."""
    protocol = protocol_of(pattern)
    if protocol is None:
        return None
    try:
        import fsspec
    except ImportError:
        return f"'{pattern}' needs fsspec, which is not installed", REMOTE_EXTRA, True
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        return f"unknown protocol '{protocol}' in '{pattern}'", "use s3://, gs://, az://...", False
    except ImportError as exc:
        return f"'{pattern}': {exc}", f"install it next to nbflow ({REMOTE_EXTRA})", True
    return None
