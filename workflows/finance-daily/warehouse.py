"""Opening the DuckDB warehouse when another run may hold it.

DuckDB lets one process write a database file at a time. Runs of different days go
side by side in a backfill (``nbflow backfill finance-daily --jobs 2``), so a step
that finds the file locked waits for it, up to ``wait`` seconds, instead of failing.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb


def connect(path: str, *, read_only: bool = False, wait: float = 300.0) -> Any:
    """A connection to the warehouse at ``path``, once no other process holds it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
