"""Hints like "did you mean 'extract'?" for misspelt keys, steps, parameters, workflows."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

__all__ = ["did_you_mean"]


def did_you_mean(
    word: str, options: Sequence[str], compare: Callable[[str], str] = lambda text: text
) -> str:
    """``did you mean 'extract'?`` for the closest of ``options``, or ``""`` if none is
    close; ``compare`` gives the part of each name that is compared (a file's stem)."""
    by_part = {compare(option): option for option in options}
    close = difflib.get_close_matches(compare(word), list(by_part), n=1)
    return f"did you mean '{by_part[close[0]]}'?" if close else ""
