"""Check the manifest's ``report:`` settings beyond their shape (the schema checks that).

The workflow's settings may be written as a top-level ``report:`` or as
``defaults.report`` (where the other step settings live): one place, not both, so
that which one wins needs no rule. ``hide_code`` only shapes the HTML, so
``hide_code: true`` where no HTML is written is worth a warning.
"""

from __future__ import annotations

from typing import Any

from nbflow.errors import Problem
from nbflow.manifest.document import Document, KeyPath, as_dict, as_list

__all__ = ["check_report"]


def check_report(doc: Document) -> tuple[list[Problem], list[Problem]]:
    """The problems and the warnings of ``doc``'s ``report:`` settings."""
    data = doc.data
    problems: list[Problem] = []
    if "report" in data and "report" in as_dict(data.get("defaults")):
        problems.append(
            doc.problem(
                ("defaults", "report"),
                "the workflow's report settings are given twice: as report and defaults.report",
                "keep one of them",
                key=True,
            )
        )
    workflow: KeyPath = ("report",) if "report" in data else ("defaults", "report")
    warnings = [doc.problem(*w) for w in _code_hidden_without_html(doc, workflow)]
    return problems, warnings


def _code_hidden_without_html(doc: Document, workflow: KeyPath) -> list[tuple[KeyPath, str, str]]:
    """``hide_code: true`` where no HTML is written: at the workflow's settings when no
    step writes HTML, at a step's own when that step writes none."""
    base = _settings(doc.data, workflow)
    steps = [s if isinstance(s, dict) else {} for s in as_list(doc.data.get("steps"))]
    found: list[tuple[KeyPath, str, str]] = []
    for index, step in enumerate(steps):
        own = as_dict(step.get("report"))
        if own.get("hide_code") is True and not {**base, **own}.get("html"):
            found.append((("steps", index, "report", "hide_code"), *_WARNING))
    writes_html = any({**base, **as_dict(s.get("report"))}.get("html") for s in steps)
    if base.get("hide_code") is True and not writes_html:
        found.insert(0, ((*workflow, "hide_code"), *_WARNING))
    return found


_WARNING = (
    "hide_code has no effect without html: true (it hides code in the HTML copy)",
    "add `html: true`, or remove hide_code",
)


def _settings(data: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    found: Any = data
    for part in path:
        found = as_dict(found).get(str(part))
    return as_dict(found)
