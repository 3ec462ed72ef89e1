"""Run record → Markdown report, the ``README.md`` GitHub shows in a run folder.

Design decisions:

- The report is rendered from the run record alone (no manifest, no notebooks), so
  any ``run.json`` can be re-rendered later, also on a machine without the workflow.
- Deterministic for a given record: no clock, no environment; steps, parameters and
  outputs keep the record's order. That keeps golden files and Git diffs stable.
- Identifiers (step ids, parameter and output names, values) are shown as code
  spans, which need no Markdown escaping; free text (reasons) is escaped. Inside
  table cells ``|`` is escaped and newlines become ``<br>``.
- Tracebacks lose their ANSI colour codes (IPython colours them) and are folded in
  a ``<details>`` block; long output values are cut to :data:`MAX_VALUE_CHARS`
  with a note saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any
from urllib.parse import quote

from nbflow.report.blocks import code as _code
from nbflow.report.blocks import fenced as _fenced
from nbflow.report.blocks import plural as _plural
from nbflow.report.blocks import section as _section
from nbflow.report.blocks import table as _table
from nbflow.report.blocks import text as _text
from nbflow.report.graph import render_record_graph
from nbflow.report.notebook_changes import render_notebook_changes
from nbflow.report.run_diff import RunDiff
from nbflow.run_record import (
    RUN_THOUGH_NOT_SELECTED,
    Attempt,
    RunRecord,
    StepError,
    StepRecord,
    StepStatus,
    parse_time,
)

__all__ = [
    "MAX_VALUE_CHARS",
    "STATUS_EMOJI",
    "format_duration",
    "render_output_changes",
    "render_report",
    "render_summary_line",
    "strip_ansi",
]

NotebookUrl = Callable[[str], str]

MAX_VALUE_CHARS = 200

STATUS_EMOJI = {
    "succeeded": "✅",
    "failed": "❌",
    "skipped": "⏭️",
    "cancelled": "🚫",
    "running": "🔄",
    "pending": "⏳",
    "cached": "♻️",
}

# CSI sequences (colours, cursor moves) and OSC sequences (titles, hyperlinks).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def render_report(
    record: RunRecord,
    *,
    notebook_url: NotebookUrl | None = None,
    notebook_changes: RunDiff | None = None,
) -> str:
    """The Markdown report of a run.

    Args:
        notebook_url: maps a notebook's path (relative to the run folder) to the
            link target; by default the link is that relative path.
        notebook_changes: the run's notebooks against the previous run's
            (report/notebook_changes.py), shown when given.
    """
    url = notebook_url or _relative_url
    sections = [
        _title(record),
        _summary(record),
        _steps_section(record, url),
        _graph_section(record),
        _errors_section(record, url),
        _sla_section(record),
        _not_run_section(record),
        _ran_by_rule_section(record),
        _upgraded_section(record),
        _run_too_section(record),
        _parameters_section(record),
        _outputs_section(record),
        render_notebook_changes(notebook_changes, url),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def render_summary_line(record: RunRecord) -> str:
    """One line, e.g. ``finance-daily failed (3/4 steps) run <id>``."""
    return (
        f"{record.workflow} {record.status.value} "
        f"({record.count_done()}/{len(record.steps)} steps) run {record.run_id}"
    )


def render_output_changes(record: RunRecord, previous: RunRecord | None) -> str:
    """A "Changes since the previous run" section: the recorded outputs that differ.

    An output only one of the runs recorded shows ``—`` on the other side; steps and
    outputs keep the record's order, then those only ``previous`` had.
    """
    if previous is None:
        body = f"First run of {_code(record.workflow)}: nothing to compare with."
    else:
        rows = [
            [_code(step), _code(name), _change_value(before), _change_value(after)]
            for step, name, before, after in _changed_outputs(previous, record)
        ]
        against = f"Compared with run {_code(previous.run_id)} ({previous.status.value})"
        table = _table(["step", "output", "before", "after"], rows)
        body = f"{against}:\n\n{table}" if rows else f"{against}: no recorded output changed."
    return _section("Changes since the previous run", body)


def format_duration(seconds: float | None) -> str:
    """A human duration: ``0.8 s``, ``42 s``, ``1 m 12 s``, ``2 h 5 m``; ``—`` if unknown."""
    if seconds is None:
        return "—"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    whole = int(seconds + 0.5)  # half up: round() would give 12 s for 12.5 s
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} m" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} m {secs} s" if secs else f"{minutes} m"
    return f"{secs} s"


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences."""
    return _ANSI.sub("", text)


# Sections ---------------------------------------------------------------------------


def _title(record: RunRecord) -> str:
    status = record.status.value
    return f"# {_emoji(status)} {record.workflow} {status} · run {_code(record.run_id)}"


def _summary(record: RunRecord) -> str:
    parts = [
        f"**{_counts(record)}**",
        f"trigger {_code(record.trigger)}",
        f"started {_time(record.start)}",
    ]
    if record.logical != record.start:  # a schedule tick's run (a manual one: its start)
        parts.insert(2, f"logical time {_time(record.logical)}")
    if record.duration is not None:
        parts.append(f"took {format_duration(record.duration)}")
    if record.commit:
        parts.append(f"input commit {_code(record.commit[:12])}{_uncommitted(record)}")
    return " · ".join(parts)


def _uncommitted(record: RunRecord) -> str:
    """`` + uncommitted changes to: `a`, `b``` for a run from a dirty tree."""
    if not record.uncommitted:
        return ""
    return " + uncommitted changes to: " + ", ".join(_code(p) for p in record.uncommitted)


def _steps_section(record: RunRecord, url: NotebookUrl) -> str:
    rows = [
        [
            _code(step.id),
            _status(step.status.value),
            str(len(step.attempts)) if step.attempts else "—",
            format_duration(step.duration),
            _plural(len(step.items), "item") if step.items else _notebook_link(step, url),
        ]
        for step in _with_items(record.steps)
    ]
    header = ["step", "status", "attempts", "duration", "notebook"]
    return _section("Steps", _table(header, rows))


def _graph_section(record: RunRecord) -> str:
    graph = _fenced(render_record_graph(record, "mermaid"), "mermaid") if record.steps else ""
    return _section("Graph", graph)


def _with_items(steps: Sequence[StepRecord]) -> list[StepRecord]:
    """Each step, followed by its items (a foreach step's) shown as steps."""
    return [view for step in steps for view in (step, *_item_views(step))]


def _item_views(step: StepRecord) -> list[StepRecord]:
    """A foreach step's items as step records labelled ``step[item]``."""
    return [
        StepRecord(
            id=item.label(step.id),
            status=item.status,
            notebook=item.notebook if item.start or item.attempts else "",
            html=item.html,
            attempts=item.attempts,
            duration=item.duration,
            error=item.error,
            reason=item.reason,
        )
        for item in step.items
    ]


def _errors_section(record: RunRecord, url: NotebookUrl) -> str:
    steps = [s for s in _with_items(record.steps) if not s.items]  # a sweep: its items
    failed = [s for s in steps if s.status == StepStatus.FAILED]
    return _section("Errors", "\n\n".join(_step_error(step, url) for step in failed))


def _not_run_section(record: RunRecord) -> str:
    not_run = (StepStatus.SKIPPED, StepStatus.CANCELLED)
    lines = [_not_run_line(s) for s in record.steps if s.status in not_run]
    return _section("Skipped and cancelled", "\n".join(lines))


def _sla_section(record: RunRecord) -> str:
    """``- the run was still going past its SLA of 30m (noticed 2026-…)``."""
    lines = [
        f"- {miss.what} was still going past its SLA of {format_duration(miss.sla)} "
        f"(noticed {_time(miss.at)})"
        for miss in record.sla_misses
    ]
    return _section("SLA missed", "\n".join(lines))


def _ran_by_rule_section(record: RunRecord) -> str:
    """Steps that ran under a ``run_if:`` other than the default, and why."""
    lines = [
        f"- ran {_code(step.id)}: {_text(step.reason)}"
        for step in record.steps
        if step.reason.startswith("run_if ") and step.status != StepStatus.SKIPPED
    ]
    return _section("Run by a trigger rule", "\n".join(lines))


def _upgraded_section(record: RunRecord) -> str:
    lines = [
        f"- {_code(s.id)}: notebook {_code(s.source_notebook)} is nbformat {s.upgraded_from}; "
        "nbflow upgraded it in memory with nbformat's converter to run it (save it in "
        "Jupyter to upgrade the file)"
        for s in record.steps
        if s.upgraded_from
    ]
    return _section("Notebooks upgraded", "\n".join(lines))


def _run_too_section(record: RunRecord) -> str:
    """The steps run though not selected, each with why its last result could not
    stand in: ``- ran `load`: its last result was for run_date=2026-12-02 (run …)``."""
    prefix = f"{RUN_THOUGH_NOT_SELECTED}: "
    lines = [
        f"- ran {_code(step.id)}: {_text(step.reason.removeprefix(prefix))}"
        for step in record.steps
        if step.reason.startswith(prefix)
    ]
    return _section("Run though not selected", "\n".join(lines))


def _parameters_section(record: RunRecord) -> str:
    rows = [[_code(name), _value(value)] for name, value in record.parameters.items()]
    return _section("Parameters", _table(["parameter", "value"], rows))


def _outputs_section(record: RunRecord) -> str:
    rows = [
        [_code(step.id), _code(name), _value(value)]
        for step in record.steps
        for name, value in step.outputs.items()
    ]
    return _section("Outputs", _table(["step", "output", "value"], rows))


_ABSENT = object()


def _changed_outputs(before: RunRecord, after: RunRecord) -> list[tuple[str, str, Any, Any]]:
    """(step, output, before, after) for each output whose value differs."""
    old = {(s.id, n): v for s in before.steps for n, v in s.outputs.items()}
    new = {(s.id, n): v for s in after.steps for n, v in s.outputs.items()}
    keys = list(new) + [k for k in old if k not in new]
    changes = [(*k, old.get(k, _ABSENT), new.get(k, _ABSENT)) for k in keys]
    return [c for c in changes if _comparable(c[2]) != _comparable(c[3])]


def _comparable(value: Any) -> str | None:
    """As JSON, so ``1`` and ``true`` differ as they do in run.json; None when absent."""
    return None if value is _ABSENT else json.dumps(value, sort_keys=True, default=str)


def _change_value(value: Any) -> str:
    return "—" if value is _ABSENT else _value(value)


# Pieces of sections -----------------------------------------------------------------


def _counts(record: RunRecord) -> str:
    """``3/4 steps succeeded (2 cached), 1 skipped``: succeeded (cached ones included:
    their results are there) of all, then the other statuses."""
    others = [
        f"{record.count(status)} {status.value}"
        for status in StepStatus
        if not status.is_done and record.count(status)
    ]
    cached = record.count(StepStatus.CACHED)
    succeeded = f"{record.count_done()}/{len(record.steps)} steps succeeded" + (
        f" ({cached} cached)" if cached else ""
    )
    return ", ".join([succeeded, *others])


def _step_error(step: StepRecord, url: NotebookUrl) -> str:
    error = step.error
    cause = _error_where(error) if error else _text(step.reason) or "no error recorded"
    parts = [
        f"### {_status(step.status.value)}: {_code(step.id)}",
        " · ".join([cause, *_step_context(step, url)]),
        _fenced(strip_ansi(error.evalue), "text") if error and error.evalue else "",
        _attempt_list(step.attempts),
        _traceback(error),
    ]
    return "\n\n".join(p for p in parts if p)


def _step_context(step: StepRecord, url: NotebookUrl) -> list[str]:
    """``after 2 attempts``, ``notebook [...]``: what is known of a step's execution."""
    context = [f"after {_plural(len(step.attempts), 'attempt')}"] if step.attempts else []
    if _has_notebook(step):
        context.append(f"notebook {_notebook_link(step, url)}")
    return context


def _error_where(error: StepError) -> str:
    cell = f" at cell index {error.cell}" if error.cell is not None else ""
    return f"{_code(error.ename)}{cell}"


def _attempt_list(attempts: Sequence[Attempt]) -> str:
    """Each attempt on one line, when there was more than one."""
    if len(attempts) < 2:
        return ""
    return "\n".join(_attempt_line(a) for a in attempts)


def _attempt_line(attempt: Attempt) -> str:
    line = f"- attempt {attempt.number}: {attempt.status.value} after "
    line += format_duration(attempt.duration)
    return line + (f", {_error_where(attempt.error)}" if attempt.error else "")


def _traceback(error: StepError | None) -> str:
    if error is None or not error.traceback:
        return ""
    body = _fenced(strip_ansi(error.traceback), "text")
    return f"<details>\n<summary>Traceback</summary>\n\n{body}\n\n</details>"


def _not_run_line(step: StepRecord) -> str:
    reason = _text(step.reason) if step.reason else "no reason recorded"
    return f"- {_status(step.status.value)} {_code(step.id)}: {reason}"


def _notebook_link(step: StepRecord, url: NotebookUrl) -> str:
    """A link to the executed notebook; ``—`` when there is none (the step never
    started, or no attempt left a notebook, as when its Dask worker was lost)."""
    if not _has_notebook(step):
        return "—"
    html = f" · [HTML]({url(step.html)})" if step.html else ""  # report: {html: true}
    return f"[{_code(step.notebook)}]({url(step.notebook)}){html}"


def _has_notebook(step: StepRecord) -> bool:
    return bool(step.notebook)


def _relative_url(path: str) -> str:
    return quote(path)


def _value(value: Any) -> str:
    """A JSON-rendered value as a code span, cut to MAX_VALUE_CHARS with a note."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= MAX_VALUE_CHARS:
        return _code(text)
    return f"{_code(text[:MAX_VALUE_CHARS] + '…')} _(truncated, {len(text):,} characters)_"


# Markdown ---------------------------------------------------------------------------


def _status(status: str) -> str:
    return f"{_emoji(status)} {status}"


def _emoji(status: str) -> str:
    return STATUS_EMOJI.get(status, "❔")


def _time(value: str) -> str:
    """An ISO time as ``2024-05-01 00:00:03 UTC``; left as is when it does not parse."""
    try:
        moment = parse_time(value)
    except ValueError:
        return _text(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
