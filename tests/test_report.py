"""Run record → Markdown report, compared with golden files in tests/golden/.

Run with UPDATE_GOLDEN=1 to rewrite the golden files, then review the diff.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import assert_golden

from nbflow.report.graph import render_record_graph
from nbflow.report.run_report import (
    MAX_VALUE_CHARS,
    format_duration,
    render_output_changes,
    render_report,
    render_summary_line,
    strip_ansi,
)
from nbflow.run_record import Attempt, RunRecord, RunStatus, StepError, StepRecord, StepStatus

GOLDEN = Path(__file__).parent / "golden"
START = "2024-05-01T00:00:00.000Z"

TRACEBACK = (
    "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m\n"
    "\x1b[0;31mKeyError\x1b[0m                                  Traceback (most recent call last)\n"
    "Cell \x1b[0;32mIn[4], line 2\x1b[0m\n"
    "\x1b[1;32m      1\x1b[0m totals \x1b[38;5;241m=\x1b[39m {}\n"
    "\x1b[0;32m----> 2\x1b[0m totals[\x1b[38;5;124m'amount'\x1b[39m]\n"
    "\x1b[0;31mKeyError\x1b[0m: 'amount'"
)


def attempt(number: int, duration: float, error: StepError | None = None) -> Attempt:
    status = StepStatus.FAILED if error else StepStatus.SUCCEEDED
    return Attempt(number, START, START, duration, status, error)


def ok(step_id: str, duration: float, needs: tuple[str, ...] = (), **kw: object) -> StepRecord:
    return StepRecord(
        step_id,
        status=StepStatus.SUCCEEDED,
        needs=needs,
        notebook=f"{step_id}.ipynb",
        attempts=(attempt(1, duration),),
        start=START,
        end=START,
        duration=duration,
        **kw,  # type: ignore[arg-type]
    )


def run(status: RunStatus, steps: tuple[StepRecord, ...], **kw: object) -> RunRecord:
    return RunRecord(
        "finance-daily",
        "20240501T000000Z-3f2a",
        status,
        "schedule",
        START,
        end="2024-05-01T00:01:12.400Z",
        duration=72.4,
        commit="0123456789abcdef0123456789abcdef01234567",
        steps=steps,
        **kw,  # type: ignore[arg-type]
    )


def succeeded_run() -> RunRecord:
    return run(
        RunStatus.SUCCEEDED,
        (
            ok("check_sources", 0.84),
            ok("transform", 41.2, ("check_sources",)),
            ok("build_view", 3.06, ("transform",)),
            ok("cleanup", 0.2, ("build_view",)),
        ),
    )


def failed_run() -> RunRecord:
    """transform fails twice; build_view is skipped, cleanup cancelled; the
    independent branch (profile-sources) still succeeds."""
    error = StepError("KeyError", "'amount' | see \x1b[1mcolumns\x1b[0m", 4, TRACEBACK)
    first = StepError("TimeoutError", "cell timed out after 30 s", 2)
    transform = StepRecord(
        "transform",
        status=StepStatus.FAILED,
        needs=("check_sources",),
        notebook="transform.ipynb",
        attempts=(attempt(1, 30.0, first), attempt(2, 12.5, error)),
        duration=42.5,
        error=error,
    )
    return run(
        RunStatus.FAILED,
        (
            ok("check_sources", 0.84),
            transform,
            ok("profile-sources", 7.25, ("check_sources",)),
            StepRecord(
                "build_view",
                status=StepStatus.SKIPPED,
                needs=("transform",),
                reason="needs transform, which failed",
            ),
            StepRecord(
                "cleanup",
                status=StepStatus.CANCELLED,
                needs=("build_view", "profile-sources"),
                reason="run cancelled by *user* (SIGINT)",
            ),
        ),
    )


def outputs_run() -> RunRecord:
    return run(
        RunStatus.SUCCEEDED,
        (
            ok(
                "check_sources",
                1.5,
                outputs={
                    "rows": 1204,
                    "files": ["paypal.csv", "stripe.csv", "mastercard.csv"],
                    "note": "a|b\nsecond line with `ticks`",
                },
            ),
            ok(
                "transform",
                75.0,
                ("check_sources",),
                outputs={"row_ids": list(range(100)), "ok": True, "missing": None},
            ),
        ),
        parameters={
            "run_date": "2024-05-01",
            "warehouse": "data/warehouse.duckdb",
            "sources": {"paypal": "DD/MM/YY", "stripe": "MM/DD/YY"},
            "limit": 0.5,
        },
    )


RECORDS = {"succeeded": succeeded_run, "failed": failed_run, "outputs": outputs_run}


@pytest.mark.parametrize("name", RECORDS)
def test_report_matches_golden(name: str) -> None:
    assert_golden(f"report_{name}.md", render_report(RECORDS[name]()))


@pytest.mark.parametrize("name", RECORDS)
def test_report_renders_the_same_after_a_json_round_trip(name: str) -> None:
    record = RECORDS[name]()
    assert render_report(RunRecord.from_json(record.to_json())) == render_report(record)


def test_title_and_summary() -> None:
    lines = render_report(failed_run()).splitlines()
    assert lines[0] == "# ❌ finance-daily failed · run `20240501T000000Z-3f2a`"
    assert lines[2] == (
        "**2/5 steps succeeded, 1 failed, 1 skipped, 1 cancelled** · trigger `schedule` · "
        "started 2024-05-01 00:00:00 UTC · took 1 m 12 s · input commit `0123456789ab`"
    )


def test_summary_line() -> None:
    assert render_summary_line(failed_run()) == (
        "finance-daily failed (2/5 steps) run 20240501T000000Z-3f2a"
    )
    assert render_summary_line(succeeded_run()) == (
        "finance-daily succeeded (4/4 steps) run 20240501T000000Z-3f2a"
    )


def cached_run() -> RunRecord:
    """A rerun of succeeded_run in which nothing changed but cleanup's input."""
    earlier = succeeded_run()
    steps = [
        replace(step, status=StepStatus.CACHED, attempts=(), reason="unchanged since run r0")
        for step in earlier.steps[:3]
    ]
    return replace(earlier, steps=(*steps, earlier.steps[3]))


def test_cached_steps_count_as_succeeded_in_every_summary() -> None:
    record = cached_run()
    assert (
        render_report(record)
        .splitlines()[2]
        .startswith("**4/4 steps succeeded (3 cached)** · trigger `schedule`")
    )
    assert render_summary_line(record) == (
        "finance-daily succeeded (4/4 steps) run 20240501T000000Z-3f2a"
    )


def test_a_failed_run_with_cached_steps_counts_them_once() -> None:
    failed = failed_run()
    first = replace(failed.steps[0], status=StepStatus.CACHED, attempts=())
    record = replace(failed, steps=(first, *failed.steps[1:]))
    assert (
        render_report(record)
        .splitlines()[2]
        .startswith("**2/5 steps succeeded (1 cached), 1 failed, 1 skipped, 1 cancelled** ·")
    )
    assert render_summary_line(record) == (
        "finance-daily failed (2/5 steps) run 20240501T000000Z-3f2a"
    )


def table_rows(report: str, header: str) -> list[str]:
    lines = report.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def cells(row: str) -> list[str]:
    """A table row split on unescaped pipes, as GitHub does."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_status_table() -> None:
    report = render_report(failed_run())
    rows = table_rows(report, "| step | status | attempts | duration | notebook |")
    assert [cells(r) for r in rows] == [
        [
            "`check_sources`",
            "✅ succeeded",
            "1",
            "0.8 s",
            "[`check_sources.ipynb`](check_sources.ipynb)",
        ],
        ["`transform`", "❌ failed", "2", "43 s", "[`transform.ipynb`](transform.ipynb)"],
        [
            "`profile-sources`",
            "✅ succeeded",
            "1",
            "7.2 s",
            "[`profile-sources.ipynb`](profile-sources.ipynb)",
        ],
        ["`build_view`", "⏭️ skipped", "—", "—", "—"],
        ["`cleanup`", "🚫 cancelled", "—", "—", "—"],
    ]


def test_notebook_url_builds_links() -> None:
    report = render_report(failed_run(), notebook_url=lambda p: f"https://example.test/runs/{p}")
    assert "[`transform.ipynb`](https://example.test/runs/transform.ipynb)" in report
    assert "](transform.ipynb)" not in report


def test_default_links_are_relative_and_url_quoted() -> None:
    record = run(RunStatus.SUCCEEDED, (ok("a step", 1.0),))
    assert "[`a step.ipynb`](a%20step.ipynb)" in render_report(record)


def test_graph_is_the_record_graph_in_a_mermaid_fence() -> None:
    record = failed_run()
    graph = render_record_graph(record, "mermaid")
    assert f"## Graph\n\n```mermaid\n{graph}```\n" in render_report(record)
    assert "class s_transform failed" in graph


def test_errors_section_has_cell_exception_attempts_and_traceback() -> None:
    report = render_report(failed_run())
    errors = report.split("## Errors\n\n")[1].split("\n## ")[0]
    assert errors.startswith(
        "### ❌ failed: `transform`\n\n"
        "`KeyError` at cell index 4 · after 2 attempts · "
        "notebook [`transform.ipynb`](transform.ipynb)\n\n"
        "```text\n'amount' | see columns\n```\n"
    )
    assert "- attempt 1: failed after 30 s, `TimeoutError` at cell index 2\n" in errors
    assert "- attempt 2: failed after 13 s, `KeyError` at cell index 4\n" in errors
    assert "<details>\n<summary>Traceback</summary>\n\n```text\n" in errors
    assert "----> 2 totals['amount']" in errors
    assert errors.rstrip().endswith("</details>")


def test_ansi_codes_are_stripped() -> None:
    report = render_report(failed_run())
    assert "\x1b" not in report
    assert "[0;31m" not in report


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\x1b[0;31mKeyError\x1b[0m", "KeyError"),
        ("\x1b[38;5;241m=\x1b[39m", "="),
        ("\x1b[1;32m\x1b[K", ""),
        ("\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("plain [text]", "plain [text]"),
    ],
)
def test_strip_ansi(text: str, expected: str) -> None:
    assert strip_ansi(text) == expected


def test_failed_step_without_error_shows_its_reason() -> None:
    step = StepRecord(
        "load",
        status=StepStatus.FAILED,
        reason="kernel died",
        attempts=(attempt(1, 2.0),),
        notebook="load.ipynb",
    )
    report = render_report(run(RunStatus.FAILED, (step,)))
    expected = "### ❌ failed: `load`\n\nkernel died · after 1 attempt · notebook [`load.ipynb`]"
    assert expected in report
    lost = render_report(run(RunStatus.FAILED, (replace(step, notebook=""),)))
    assert "### ❌ failed: `load`\n\nkernel died · after 1 attempt\n" in lost  # none to link


def test_step_that_failed_before_starting_has_no_attempts_or_notebook() -> None:
    step = StepRecord(
        "load", status=StepStatus.FAILED, error=StepError("UsageError", "bad -p value")
    )
    report = render_report(run(RunStatus.FAILED, (step,)))
    assert "### ❌ failed: `load`\n\n`UsageError`\n\n```text\nbad -p value\n```\n" in report
    assert "<details>" not in report


def test_skipped_and_cancelled_steps_list_their_reason() -> None:
    report = render_report(failed_run())
    assert "## Skipped and cancelled\n\n" in report
    assert "- ⏭️ skipped `build_view`: needs transform, which failed\n" in report
    assert "- 🚫 cancelled `cleanup`: run cancelled by \\*user\\* (SIGINT)\n" in report


def test_sections_are_left_out_when_empty() -> None:
    report = render_report(succeeded_run())
    for heading in ("## Errors", "## Skipped", "## Parameters", "## Outputs"):
        assert heading not in report


def test_pipes_and_newlines_in_cells_are_escaped() -> None:
    report = render_report(outputs_run())
    rows = table_rows(report, "| step | output | value |")
    note = next(r for r in rows if "`note`" in r)
    assert note == '| `check_sources` | `note` | ``"a\\|b\\nsecond line with `ticks`"`` |'
    assert all(len(cells(r)) == 3 for r in rows)


def test_newline_in_a_cell_becomes_br() -> None:
    record = run(RunStatus.SUCCEEDED, (ok("a", 1.0),), parameters={"multi\nline|name": 1})
    rows = table_rows(render_report(record), "| parameter | value |")
    assert rows == ["| `multi<br>line\\|name` | `1` |"]


def test_long_values_are_truncated_with_a_note() -> None:
    report = render_report(outputs_run())
    row = next(r for r in table_rows(report, "| step | output | value |") if "`row_ids`" in r)
    value = cells(row)[2]
    full = "[" + ", ".join(str(i) for i in range(100)) + "]"
    assert value == f"`{full[:MAX_VALUE_CHARS]}…` _(truncated, {len(full):,} characters)_"


def test_parameters_are_json_rendered() -> None:
    rows = table_rows(render_report(outputs_run()), "| parameter | value |")
    assert rows[0] == '| `run_date` | `"2024-05-01"` |'
    assert rows[2] == '| `sources` | `{"paypal": "DD/MM/YY", "stripe": "MM/DD/YY"}` |'


def test_running_run_has_unknown_duration() -> None:
    record = RunRecord(
        "wf",
        "r1",
        RunStatus.RUNNING,
        "dispatch",
        START,
        steps=(StepRecord("a", status=StepStatus.RUNNING), StepRecord("b", needs=("a",))),
    )
    report = render_report(record)
    assert report.startswith("# 🔄 wf running · run `r1`\n\n")
    assert "**0/2 steps succeeded, 1 pending, 1 running** · trigger `dispatch` · " in report
    assert "took" not in report and "input commit" not in report


def test_backticks_in_ids_and_tracebacks_get_longer_fences() -> None:
    error = StepError("ValueError", "bad", 0, "```\nfenced in traceback\n```")
    step = StepRecord(
        "`odd`", status=StepStatus.FAILED, error=error, attempts=(attempt(1, 1.0, error),)
    )
    report = render_report(run(RunStatus.FAILED, (step,)))
    assert "`` `odd` ``" in report
    assert "````text\n```\nfenced in traceback\n```\n````" in report


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (None, "—"),
        (0.0, "0.0 s"),
        (0.84, "0.8 s"),
        (9.94, "9.9 s"),
        (9.96, "10 s"),
        (12.5, "13 s"),
        (42.4, "42 s"),
        (59.6, "1 m"),
        (72.4, "1 m 12 s"),
        (3600, "1 h"),
        (3 * 3600 + 5 * 60 + 9, "3 h 5 m"),
    ],
)
def test_format_duration(seconds: float | None, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_report_is_deterministic() -> None:
    assert len({render_report(failed_run()) for _ in range(3)}) == 1


def test_record_without_steps_has_only_title_and_summary() -> None:
    record = RunRecord("wf", "r1", RunStatus.SUCCEEDED, "push", START, duration=0.1)
    assert render_report(record) == (
        "# ✅ wf succeeded · run `r1`\n\n"
        "**0/0 steps succeeded** · trigger `push` · started 2024-05-01 00:00:00 UTC · took 0.1 s\n"
    )


def test_output_changes_list_changed_added_and_removed_outputs() -> None:
    before = run(
        RunStatus.FAILED,
        (
            ok("check_sources", 1.0, outputs={"rows": 40, "ok": 1, "same": [1, 2], "gone": "x"}),
            ok("dropped", 1.0, outputs={"n": None}),
        ),
    )
    after = run(
        RunStatus.SUCCEEDED,
        (ok("check_sources", 1.0, outputs={"rows": 42, "ok": True, "same": [1, 2], "new": None}),),
    )
    assert render_output_changes(after, before) == (
        "## Changes since the previous run\n\n"
        "Compared with run `20240501T000000Z-3f2a` (failed):\n\n"
        "| step | output | before | after |\n"
        "| --- | --- | --- | --- |\n"
        "| `check_sources` | `rows` | `40` | `42` |\n"
        "| `check_sources` | `ok` | `1` | `true` |\n"
        "| `check_sources` | `new` | — | `null` |\n"
        '| `check_sources` | `gone` | `"x"` | — |\n'
        "| `dropped` | `n` | `null` | — |"
    )


def test_output_changes_when_nothing_changed_or_first_run() -> None:
    record = outputs_run()
    assert render_output_changes(record, record) == (
        "## Changes since the previous run\n\n"
        "Compared with run `20240501T000000Z-3f2a` (succeeded): no recorded output changed."
    )
    assert render_output_changes(record, None) == (
        "## Changes since the previous run\n\n"
        "First run of `finance-daily`: nothing to compare with."
    )
