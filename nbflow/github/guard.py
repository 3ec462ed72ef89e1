"""``nbflow ci guard``: does a push event hold anything but run commits?

A generated job runs a workflow on a push unless every pushed commit is a run
commit, so run commits never start runs (when a personal or app token pushes them;
pushes made with ``GITHUB_TOKEN`` start no workflow anyway). A run commit is known
by nbflow's trailers (``Nbflow-Workflow:`` and ``Nbflow-Run:`` in its last
paragraph), not by its subject: a person's commit titled ``nbflow: …`` still runs.
The commits are read from the event GitHub wrote (``$GITHUB_EVENT_PATH``:
``commits[*].message``, which GitHub caps at 2048 commits; ``head_commit`` when the
list is empty).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.errors import UsageError

__all__ = ["Verdict", "guard_push", "is_run_commit_message"]

RUN_TRAILERS = ("Nbflow-Workflow", "Nbflow-Run")


@dataclass(frozen=True)
class Verdict:
    skip: bool
    reason: str


def is_run_commit_message(message: str) -> bool:
    """Whether ``message`` ends with nbflow's run trailers."""
    paragraphs = [p for p in message.replace("\r\n", "\n").strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return False
    keys = {line.partition(":")[0].strip() for line in paragraphs[-1].splitlines()}
    return all(key in keys for key in RUN_TRAILERS)


def guard_push(event_name: str, event_path: Path | None) -> Verdict:
    """Whether to skip the run for this event: only a push of run commits is skipped."""
    if event_name != "push":
        return Verdict(False, f"a {event_name or 'manual'} event runs")
    messages = _pushed_messages(_read_event(event_path))
    people = [m for m in messages if not is_run_commit_message(m)]
    if people:
        return Verdict(False, f"{len(people)} of {len(messages)} pushed commit(s) not run commits")
    return Verdict(True, f"every pushed commit ({len(messages)}) is a run commit")


def _read_event(path: Path | None) -> Mapping[str, Any]:
    if path is None:
        raise UsageError("GITHUB_EVENT_PATH is not set: `nbflow ci guard` runs in a GitHub job")
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the GitHub event: {exc}") from None
    if not isinstance(event, Mapping):
        raise UsageError(f"{path}: expected a JSON object (a GitHub event)")
    return event


def _pushed_messages(event: Mapping[str, Any]) -> list[str]:
    commits = event.get("commits")
    listed = commits if isinstance(commits, list) and commits else [event.get("head_commit")]
    return [str(c["message"]) for c in listed if isinstance(c, Mapping) and "message" in c]
