"""Durations in a manifest: a number of seconds, or text such as ``30s``, ``10m``,
``1h30m`` (units ``d``, ``h``, ``m``, ``s``, ``ms``, largest first).

Kept separate so the command line (``--timeout``) and the loader share one parser.
"""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|d|h|m|s))+")


def parse_duration(value: object) -> float:
    """Seconds in ``value`` (a non-negative number or a text duration); ValueError if bad."""
    if isinstance(value, bool):
        raise ValueError(_expected(value))
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(_expected(value))
    text = value.strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not text or not _WHOLE.fullmatch(text):
        raise ValueError(_expected(value))
    return sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))


def _expected(value: object) -> str:
    return f"expected a duration such as 30, '30s', '10m', '1h' or '1h30m', got {value!r}"
