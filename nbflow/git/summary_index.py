"""The committed summary index ``runs/<workflow>/summaries.jsonl``: the summary of
each of the workflow's run records, committed beside its history page, so a fresh
clone (every CI run starts from one) lists 10,000 runs by reading one file instead
of 10,000 records.

Each run commit (and the replay of one after a rejected push) writes it again,
with the page, from the records in the tree being committed (git/history_page.py).
It never has to be trusted:

- an entry is keyed by the blob id of the ``run.json`` it summarises: a record
  changed since (by hand, by a merge, by an amended commit) has another blob id,
  so its entry is never used and the record itself is read;
- each line ends with a check (a hash of the rest of the line): a line edited by
  hand, a conflict marker, a truncated line is ignored, and its record read;
- a missing, damaged or other-version index gives no entries, never an error.

It holds the summary fields alone (workflow, run id, status, trigger, start,
duration, pid, logical time, step counts), copied from the committed records it
sits beside, so it carries nothing that is not already in them (their values are
redacted before they are written: nbflow/secrets.py).

One JSON list per line, in the order of the records in the tree (by run id):
``[blob id, <the summary's fields>, check]``, after a header line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

INDEX_FILE = "summaries.jsonl"
HEADER = json.dumps(
    {
        "nbflow": "run summaries",
        "version": 1,
        "note": "written by nbflow at each run commit from the run.json files beside it; "
        "a line that does not match its run.json (blob id) or its check is ignored",
    }
)

Entries = dict[str, tuple[list[Any], str]]  # blob id: (the summary's fields, the line)
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # made once: 10,000 lines a commit


def line(blob: str, fields: list[Any]) -> str:
    """The index line of the record ``blob`` whose summary's fields are ``fields``."""
    body = _COMPACT.encode([blob, *fields])[:-1]
    return f'{body},"{_check(body)}"]'


def render(lines: Iterable[str]) -> str:
    """The index's text: the header, then ``lines``."""
    return "\n".join([HEADER, *lines]) + "\n"


def parse(data: bytes) -> Entries:
    """The entries of an index's bytes whose check holds, by blob id; none when it
    is not an index of this version."""
    text = data.decode("utf-8", "replace")
    header, _, rest = text.partition("\n")
    if header != HEADER:
        return {}
    entries: Entries = {}
    for entry in rest.split("\n"):
        value = _loads(entry) if _holds(entry) else None
        if isinstance(value, list) and len(value) > 2 and isinstance(value[0], str):
            entries[value[0]] = (value[1:-1], entry)
    return entries


def _holds(text: str) -> bool:
    body, _, check = text.rpartition(',"')
    return check.endswith('"]') and check[:-2] == _check(body)


def _check(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
