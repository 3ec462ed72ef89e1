"""Catch-up: ``nbflow run --schedule CRON --catch-up`` also runs the ticks missed since
the workflow's latest run, oldest first, bounded by ``--max``; ``nbflow due --missed``
lists them. Real kernels; the ticks are days relative to today (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import git

from nbflow.cli import main
from nbflow.store.runs import iter_run_dirs, read_record

CRON = "0 0 * * *"


def day(offset: int) -> str:
    """Today's date (UTC) plus ``offset`` days, as ISO text."""
    return (datetime.now(UTC) + timedelta(days=offset)).date().isoformat()


def by_logical_day(project: Path) -> list[tuple[str, str, str]]:
    found = (read_record(f) for f in iter_run_dirs(project / "runs", "daily"))
    return sorted((r.logical[:10], r.trigger, r.parameters["run_date"]) for r in found)


@pytest.fixture
def ran_four_days_ago(project_repo: Path, daily: Path) -> Path:
    """The daily workflow, committed, with one run (committed) for the tick 4 days ago."""
    git(project_repo, "add", ".")
    git(project_repo, "commit", "-q", "-m", "daily")
    assert main(["backfill", "daily", "--from", day(-4), "--to", day(-4), "--commit"]) == 0
    return project_repo


def test_catch_up_runs_the_missed_ticks_oldest_first_then_the_tick_that_fired(
    ran_four_days_ago: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = ran_four_days_ago
    capsys.readouterr()
    assert main(["due", "--missed"]) == 0
    listed = capsys.readouterr().out

    assert main(["run", "--schedule", CRON, "--catch-up"]) == 0
    err = capsys.readouterr().err
    assert main(["due", "--missed"]) == 0
    after = capsys.readouterr()

    assert listed.splitlines() == [f"daily\t{day(d)}T00:00+00:00\tmissed" for d in (-3, -2, -1)]
    assert by_logical_day(project) == [
        (day(-4), "backfill", day(-4)),
        (day(-3), "catch-up", day(-3)),
        (day(-2), "catch-up", day(-2)),
        (day(-1), "catch-up", day(-1)),
        (day(0), "schedule", day(0)),
    ]
    assert err.index(day(-3)) < err.index(day(-2)) < err.index(day(-1))
    assert after.out == ""
    assert "no missed ticks" in after.err


def test_catch_up_is_bounded_by_max_and_names_the_backfill_for_the_rest(
    ran_four_days_ago: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert main(["run", "--schedule", CRON, "--catch-up", "--max", "1"]) == 0

    assert [d for d, _, _ in by_logical_day(ran_four_days_ago)] == [day(-4), day(-1), day(0)]
    command = f"backfill daily --from {day(-3)}T00:00+00:00 --to {day(-2)}T00:00+00:00"
    assert (
        f"nbflow: daily: 2 older missed ticks left out (--max 1): run them with `nbflow {command}`"
    ) in capsys.readouterr().err

    # as docs/running.md says: only that command remembers them (the search starts
    # after the latest run, today's) ...
    assert main(["due", "--missed"]) == 0
    assert capsys.readouterr().out == ""
    # ... and it runs exactly them
    assert main(command.split()) == 0
    assert [d for d, _, _ in by_logical_day(ran_four_days_ago)] == [day(d) for d in range(-4, 1)]


def test_catch_up_with_max_0_runs_only_the_tick_that_fired(
    ran_four_days_ago: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--max 0`` is allowed ("0 or more"): no missed tick is run, all are named."""
    capsys.readouterr()

    assert main(["run", "--schedule", CRON, "--catch-up", "--max", "0"]) == 0

    assert [d for d, _, _ in by_logical_day(ran_four_days_ago)] == [day(-4), day(0)]
    command = f"backfill daily --from {day(-3)}T00:00+00:00 --to {day(-1)}T00:00+00:00"
    assert (
        f"nbflow: daily: 3 older missed ticks left out (--max 0): run them with `nbflow {command}`"
    ) in capsys.readouterr().err


def test_a_workflow_never_run_has_nothing_to_catch_up(
    project: Path, daily: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["due", "--missed"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "daily", "--catch-up"], "--catch-up makes up for missed ticks of a schedule: "
         "give --schedule CRON"),
        (["run", "--schedule", CRON, "--catch-up", "--plan"], "--catch-up runs whole runs: "
         "drop --plan/--step"),
        (["run", "--schedule", CRON, "--catch-up", "--step", "hello"], "--catch-up runs whole "
         "runs: drop --plan/--step"),
        (["run", "--schedule", CRON, "--max", "2"], "--max bounds --catch-up: add --catch-up, "
         "or drop --max"),
        (["run", "--schedule", CRON, "--catch-up", "--max", "-1"], "--max -1: give a number of "
         "ticks, 0 or more"),
    ],
)  # fmt: skip
def test_catch_up_usage_errors(
    project: Path, daily: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not (project / "runs").exists()


def test_the_generated_scheduled_job_catches_up_and_commits_every_run(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated job, run as a runner runs it: the ticks GitHub dropped since the
    last committed run are run and pushed before the tick that fired."""
    from test_ci_job import pushed_runs, run_job, snoop_project

    snoop_project(git_repo)
    monkeypatch.chdir(git_repo)
    assert (
        main(["backfill", "snoop", "--from", day(-3), "--to", day(-3), "--commit", "--push"]) == 0
    )

    graph = run_job(git_repo, tmp_path, "schedule", {"schedule": "0 3 * * *"})

    assert graph.results["run"] == "success", graph.failures
    pushed = sorted((r.logical[:10], r.trigger) for r in map(read_record, pushed_runs(tmp_path)))
    latest = 0 if datetime.now(UTC).hour >= 3 else -1  # today's 03:00 tick, once it passed
    assert pushed == [
        (day(-3), "backfill"),
        *((day(d), "catch-up") for d in range(-2, latest)),
        (day(latest), "schedule"),
    ]
