"""Hints like "did you mean 'extract'?" for misspelt keys, steps, parameters, workflows."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["did_you_mean"]


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """``did you mean 'extract'?`` for the closest of ``options``, or ``""`` if none is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean '{close[0]}'?" if close else ""
