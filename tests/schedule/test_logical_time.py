"""Logical time: a run for a schedule tick resolves ``default: today``/``now`` from the
tick, not the wall clock, and records it (run.json, report, ``nbflow runs``, trailers).
Real kernels, real Git."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import git, injected_parameters, latest_run, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.load import load_manifest
from nbflow.manifest.model import Schedule
from nbflow.run_record import RunRecord
from nbflow.schedule import latest_tick


def dated_workflow(project: Path, cron: str = "0 0 * * *", timezone: str | None = None) -> Path:
    """A workflow whose notebook receives ``run_date`` (default today) and ``stamp``
    (default now), and records them."""
    folder = project / "workflows" / "daily"
    write_notebook(
        folder / "day.ipynb",
        'run_date = "2000-01-01"\nstamp = "2000-01-01T00:00:00"',
        ["import nbflow\nnbflow.record('day', str(run_date))\nnbflow.record('stamp', stamp)"],
    )
    entry = f"{{cron: '{cron}', timezone: {timezone}}}" if timezone else f"'{cron}'"
    return write_manifest(
        folder,
        f"""
        name: daily
        on:
          schedule: [{entry}]
        parameters:
          run_date: {{type: date, default: today}}
          stamp: {{type: datetime, default: now}}
        steps:
          - id: day
            notebook: day.ipynb
        """,
    )


def test_a_late_scheduled_run_processes_its_tick_s_day(project: Path) -> None:
    workflow = load_manifest(dated_workflow(project))
    started = datetime(2026, 11, 4, 5, 17, tzinfo=UTC)  # the scheduler was five hours late
    tick = latest_tick(workflow.triggers.schedule[0], started)

    record = run_workflow(
        workflow, RunOptions(trigger="schedule", now=started, logical_time=tick, jobs=1)
    )

    assert tick == datetime(2026, 11, 4, tzinfo=UTC)
    assert record.start == "2026-11-04T05:17:00.000Z"
    assert record.logical_time == "2026-11-04T00:00:00.000Z"
    assert record.parameters["run_date"] == "2026-11-04"
    assert record.step("day").outputs == {"day": "2026-11-04", "stamp": "2026-11-04T00:00:00+00:00"}
    run_dir, stored = latest_run(project, "daily")
    assert json.loads((run_dir / "run.json").read_text())["logical_time"] == record.logical_time
    assert "logical time 2026-11-04 00:00:00 UTC" in (run_dir / "README.md").read_text()


def test_a_tick_in_a_time_zone_gives_that_zone_s_date(project: Path) -> None:
    """00:30 in Paris is 23:30 UTC the day before: `today` is Paris's date."""
    workflow = load_manifest(dated_workflow(project, "30 0 * * *", "Europe/Paris"))
    tick = latest_tick(
        Schedule("30 0 * * *", "Europe/Paris"), datetime(2026, 11, 2, 23, 45, tzinfo=UTC)
    )

    record = run_workflow(workflow, RunOptions(trigger="schedule", logical_time=tick, jobs=1))

    assert record.logical_time == "2026-11-02T23:30:00.000Z"
    assert record.parameters["run_date"] == "2026-11-03"
    assert (
        injected_parameters(project / "runs" / "daily" / record.run_id / "day.ipynb").count(
            'run_date = "2026-11-03"'
        )
        == 1
    )


def test_a_manual_run_s_logical_time_is_its_start(project: Path) -> None:
    record = run_workflow(load_manifest(dated_workflow(project)), RunOptions(jobs=1))

    assert record.logical_time == record.start
    assert record.parameters["run_date"] == record.start[:10]
    assert (
        "logical time" not in (project / "runs" / "daily" / record.run_id / "README.md").read_text()
    )


def test_logical_time_on_the_command_line_reaches_runs_and_the_commit_trailers(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dated_workflow(project_repo)
    git(project_repo, "add", ".")
    git(project_repo, "commit", "-q", "-m", "daily")

    assert main(["run", "daily", "--logical-time", "2026-11-03", "--commit"]) == 0
    _, record = latest_run(project_repo, "daily")
    capsys.readouterr()
    assert main(["runs", "daily"]) == 0
    listed = capsys.readouterr().out.splitlines()

    assert record.parameters["run_date"] == "2026-11-03"
    assert listed[1].split()[2:4] == ["2026-11-03", "00:00"]
    trailer = git(
        project_repo, "log", "-1", "--format=%(trailers:key=Nbflow-Logical-Time,valueonly)"
    )
    assert trailer == "2026-11-03T00:00:00.000Z"


def test_a_bad_logical_time_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dated_workflow(project)

    assert main(["run", "daily", "--logical-time", "yesterday"]) == 2

    assert capsys.readouterr().err == (
        "error: --logical-time yesterday: expected an ISO date or time such as 2026-11-01 "
        "or 2026-11-01T06:00\n"
    )
    assert not (project / "runs").exists()


def test_an_older_record_without_logical_time_reads_back_as_it_was() -> None:
    old = {
        "workflow": "daily", "run_id": "2026-11-23T000000Z-ab12", "status": "succeeded",
        "trigger": "manual", "start": "2026-11-23T00:00:00.000Z", "end": None,
        "duration": None, "commit": None, "parameters": {}, "steps": [], "manifest": "",
        "pid": None, "version": 1,
    }  # fmt: skip

    record = RunRecord.from_json(old)

    assert record.logical == "2026-11-23T00:00:00.000Z"
    assert record.run_context["date"] == "2026-11-23"
    assert json.loads(json.dumps(record.to_json())) == old
