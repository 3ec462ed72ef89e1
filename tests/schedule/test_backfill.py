"""``nbflow backfill``: one run per tick, each with its own day; ticks with a succeeded
run (working tree or Git) skipped; an interrupted backfill resumes; one tick never
runs twice at once. Real kernels, real Git."""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import daily_workflow, git, injected_parameters

from nbflow.cli import main
from nbflow.engine.locks import workflow_lock
from nbflow.store.runs import iter_run_dirs, read_record


def records(project: Path, workflow: str = "daily") -> list:  # type: ignore[type-arg]
    return sorted(
        (read_record(f) for f in iter_run_dirs(project / "runs", workflow)),
        key=lambda r: r.logical,
    )


def days_in_notebooks(project: Path, record) -> set[str]:  # type: ignore[no-untyped-def]
    """The dates injected into the run's notebook."""
    notebook = project / "runs" / record.workflow / record.run_id / "day.ipynb"
    return set(re.findall(r"\d{4}-\d\d-\d\d", injected_parameters(notebook)))


def test_backfill_runs_each_tick_with_its_own_day_and_a_rerun_has_nothing_to_do(
    project: Path, daily: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-03", "--jobs", "2"]

    assert main(args) == 0
    first = capsys.readouterr()
    ran = records(project)
    assert main(args) == 0
    again = capsys.readouterr()

    assert [r.logical_time for r in ran] == [
        "2026-11-01T00:00:00.000Z",
        "2026-11-02T00:00:00.000Z",
        "2026-11-03T00:00:00.000Z",
    ]
    assert [r.trigger for r in ran] == ["backfill"] * 3
    assert [r.step("day").outputs["day"] for r in ran] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert [days_in_notebooks(project, r) for r in ran] == [
        {"2026-11-01"},
        {"2026-11-02"},
        {"2026-11-03"},
    ]
    assert sorted(first.out.split()) == sorted(
        str(project.resolve() / "runs" / "daily" / r.run_id) for r in ran
    )
    assert "daily: 3 ticks (2026-11-01T00:00 … 2026-11-03T00:00): 3 succeeded" in first.err
    assert again.out == ""
    assert again.err.splitlines()[-1] == (
        "nbflow: daily: nothing to do: each of the 3 ticks (2026-11-01T00:00 … "
        "2026-11-03T00:00) has a succeeded run (--force runs them again)"
    )
    assert records(project) == ran


def test_ticks_committed_to_git_are_skipped_and_force_runs_them_again(
    project_repo: Path, daily: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(project_repo, "add", ".")
    git(project_repo, "commit", "-q", "-m", "daily")
    assert (
        main(["backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-02", "--commit"]) == 0
    )
    committed = records(project_repo)
    shutil.rmtree(project_repo / "runs")  # only Git knows the runs now
    capsys.readouterr()

    assert main(["backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-02"]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert not (project_repo / "runs").exists()
    assert main(["backfill", "daily", "--from", "2026-11-02", "--to", "2026-11-02", "--force"]) == 0

    log = git(project_repo, "log", "--format=%(trailers:key=Nbflow-Logical-Time,valueonly)")
    assert log.split() == ["2026-11-02T00:00:00.000Z", "2026-11-01T00:00:00.000Z"]
    assert [r.logical_time for r in records(project_repo)] == ["2026-11-02T00:00:00.000Z"]
    assert records(project_repo)[0].run_id not in {r.run_id for r in committed}


def test_an_interrupted_backfill_resumes_only_the_tick_that_failed(
    project: Path, daily: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (daily / "fail-2026-11-02").write_text("")
    args = ["backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-03"]

    assert main(args) == 1  # the worst of the runs
    before = {r.logical_time: r for r in records(project)}
    (daily / "fail-2026-11-02").unlink()
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    after = {r.logical_time: r for r in records(project)}

    failed = before["2026-11-02T00:00:00.000Z"]
    assert [r.status.value for r in before.values()] == ["succeeded", "failed", "succeeded"]
    assert [r.status.value for r in after.values()] == ["succeeded"] * 3
    assert after["2026-11-02T00:00:00.000Z"].run_id == failed.run_id  # resumed, not a new run
    assert len(after["2026-11-02T00:00:00.000Z"].step("day").attempts) == 2
    assert "daily: 3 ticks (2026-11-01T00:00 … 2026-11-03T00:00): 2 skipped, 1 succeeded" in err


@contextlib.contextmanager
def held_elsewhere(runs: Path, workflow: str, tick: str) -> Iterator[None]:
    """The tick's lock held by another thread (as another process would)."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with workflow_lock(runs, workflow, tick):
            held.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_a_tick_being_run_is_never_run_twice_at_once(
    project: Path, daily: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with held_elsewhere(project / "runs", "daily", "2026-11-02T00:00:00.000Z"):
        code = main(["backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-02"])
        with_tick_held = capsys.readouterr().err
        manual = main(["run", "daily"])  # a run without a tick runs alone
        manual_err = capsys.readouterr().err

    assert code == 75
    assert [r.logical_time for r in records(project)] == ["2026-11-01T00:00:00.000Z"]
    assert (
        "2026-11-02T00:00+00:00: busy (daily: another run of this workflow for " in with_tick_held
    )
    assert manual == 75
    assert "daily: another run of this workflow is in progress" in manual_err


def test_every_gives_ticks_to_a_workflow_without_schedule(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    daily_workflow(project, "adhoc", schedule=None)

    assert main(["backfill", "adhoc", "--from", "2026-11-01", "--to", "2026-11-02"]) == 2
    missing = capsys.readouterr().err
    assert (
        main(
            [
                "backfill",
                "adhoc",
                "--from",
                "2026-11-01T12:00",
                "--to",
                "2026-11-02",
                "--every",
                "12h",
            ]
        )
        == 0
    )

    assert missing == (
        f"error: {project.resolve()}/workflows/adhoc/workflow.yaml:1:1: adhoc has no schedule "
        "(`on: {schedule: [CRON]}`): give the ticks with --every, e.g. --every 1d\n"
    )
    assert [r.logical_time for r in records(project, "adhoc")] == [
        "2026-11-01T12:00:00.000Z",
        "2026-11-02T00:00:00.000Z",
        "2026-11-02T12:00:00.000Z",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--every", "0"], "error: --every 0: give a positive duration such as 1d or 6h\n"),
        (["--every", "daily"], "error: --every daily: expected a duration such as 30, '30s', "
         "'10m', '1h' or '1h30m', got 'daily'\n"),
        (["--to", "2026-10-01"], "error: --from 2026-11-01 is after --to 2026-10-01: swap them\n"),
        (["--to", "soon"], "error: --to soon: expected an ISO date or time such as 2026-11-01 "
         "or 2026-11-01T06:00\n"),
        (["-p", "run_dat=2026-01-01", "--to", "2026-11-02"], "error: daily: unknown parameter "
         "'run_dat'; did you mean 'run_date'?\n"),
    ],
)  # fmt: skip
def test_bad_backfill_options_are_usage_errors(
    project: Path, daily: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-02"]
    if "--to" in extra:
        args = args[:-2]

    assert main([*args, *extra]) == 2

    assert capsys.readouterr().err == message
    assert not (project / "runs").exists()
