"""Schedules: which workflows a cron string or a moment makes due (``nbflow.schedule``)
and the ``nbflow due`` command that prints them.

The unit tests load tiny manifests without their notebooks; ``nbflow due`` loads
them fully, so its tests write the (never executed) notebooks too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import write_manifest, write_notebook

from nbflow.cli import main
from nbflow.errors import ManifestError
from nbflow.manifest.load import load_manifest
from nbflow.manifest.model import Workflow
from nbflow.schedule import due_at, workflows_for_cron


def scheduled(folder: Path, *crons: str) -> Path:
    """``folder/workflow.yaml``: one step, ``on.schedule`` listing ``crons`` as written."""
    listed = ", ".join(f'"{cron}"' for cron in crons)
    return write_manifest(
        folder,
        f"""
        name: {folder.name}
        on:
          schedule: [{listed}]
        steps:
          - id: main
            notebook: main.ipynb
        """,
    )


def workflow(tmp_path: Path, name: str, *crons: str) -> Workflow:
    return load_manifest(scheduled(tmp_path / name, *crons), check_notebooks=False)


def utc(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


# -- workflows_for_cron ---------------------------------------------------------------


def test_workflows_for_cron_ignores_whitespace(tmp_path: Path) -> None:
    nightly = workflow(tmp_path, "nightly", "0  0 * * *")  # two spaces, as written
    weekdays = workflow(tmp_path, "weekdays", "30 6 * * 1-5", "0 0 * * *")
    hourly = workflow(tmp_path, "hourly", "0 * * * *")

    assert workflows_for_cron([nightly, weekdays, hourly], " 0 0\t* *  * ") == [nightly, weekdays]
    assert workflows_for_cron([nightly, weekdays, hourly], "30 6 * * 1-5") == [weekdays]


def test_workflows_for_cron_without_a_match_is_empty(tmp_path: Path) -> None:
    nightly = workflow(tmp_path, "nightly", "0 0 * * *")
    unscheduled = load_manifest(
        write_manifest(
            tmp_path / "adhoc",
            """
            name: adhoc
            steps:
              - id: main
                notebook: main.ipynb
            """,
        ),
        check_notebooks=False,
    )

    assert workflows_for_cron([nightly, unscheduled], "0 1 * * *") == []
    assert workflows_for_cron([nightly, unscheduled], "0 0 * * 0") == []
    assert workflows_for_cron([], "0 0 * * *") == []


# -- due_at ---------------------------------------------------------------------------


def test_due_at_the_exact_minute_with_previous_and_next(tmp_path: Path) -> None:
    nightly = workflow(tmp_path, "nightly", "0 0 * * *", "30 6 * * 1-5")

    # seconds are ignored: 00:00:45 is the minute 00:00 (2026-11-23 is a Monday)
    entries = due_at([nightly], utc(23, 0, 0, 45))

    assert [(e.workflow, e.cron, e.due, e.previous, e.next) for e in entries] == [
        (nightly, "0 0 * * *", True, utc(23, 0, 0), utc(24, 0, 0)),
        (nightly, "30 6 * * 1-5", False, utc(20, 6, 30), utc(23, 6, 30)),
    ]


def test_due_at_a_later_minute_is_not_due_without_a_window(tmp_path: Path) -> None:
    nightly = workflow(tmp_path, "nightly", "0 0 * * *")

    [entry] = due_at([nightly], utc(23, 0, 1))

    assert (entry.due, entry.previous, entry.next) == (False, utc(23, 0, 0), utc(24, 0, 0))


@pytest.mark.parametrize(
    ("at", "window", "due"),
    [
        (utc(23, 0, 7), 10, True),  # fired 7 minutes ago: within 10
        (utc(23, 0, 7), 6, False),  # but not within 6
        (utc(23, 0, 0), 10, True),  # firing in the very minute asked about
        (utc(22, 23, 59), 10, False),  # the window does not look ahead
    ],
)
def test_due_at_with_a_window_counts_late_firings(
    tmp_path: Path, at: datetime, window: int, due: bool
) -> None:
    nightly = workflow(tmp_path, "nightly", "0 0 * * *")

    [entry] = due_at([nightly], at, timedelta(minutes=window))

    assert entry.due is due


def test_due_at_converts_other_time_zones_to_utc(tmp_path: Path) -> None:
    nightly = workflow(tmp_path, "nightly", "0 0 * * *")
    paris = timezone(timedelta(hours=1))

    [entry] = due_at([nightly], datetime(2026, 11, 23, 1, 0, tzinfo=paris))

    assert (entry.due, entry.previous, entry.next) == (True, utc(23, 0, 0), utc(24, 0, 0))


def test_due_at_counts_a_firing_in_one_poll_of_a_regular_scheduler(tmp_path: Path) -> None:
    nightly = workflow(tmp_path, "nightly", "0 0 * * *")
    window = timedelta(minutes=15)

    polls = [due_at([nightly], at, window)[0].due for at in (utc(23, 0, 0), utc(23, 0, 15))]

    assert polls == [True, False]


# -- nbflow due -----------------------------------------------------------------------


def two_scheduled_workflows(project: Path) -> None:
    for name, crons in {
        "nightly": ["0 0 * * *"],
        "weekdays": ["*/15 * * * *", "30 6 * * 1-5"],
    }.items():
        folder = project / "workflows" / name
        write_notebook(folder / "main.ipynb", None, ["1"])
        scheduled(folder, *crons)


@pytest.mark.parametrize(
    ("args", "out"),
    [
        (
            ["--at", "2026-11-23T00:00"],
            "nightly\t0 0 * * *\tdue\tnext 2026-11-24T00:00Z\n"
            "weekdays\t*/15 * * * *\tdue\tnext 2026-11-23T00:15Z\n",
        ),
        (
            ["--at", "2026-11-23T00:10", "--window", "12"],
            "nightly\t0 0 * * *\tdue\tnext 2026-11-24T00:00Z\n"
            "weekdays\t*/15 * * * *\tdue\tnext 2026-11-23T00:15Z\n",
        ),
        (
            ["--at", "2026-11-23T06:30:59", "--all"],
            "nightly\t0 0 * * *\tnot due\tnext 2026-11-24T00:00Z\n"
            "weekdays\t*/15 * * * *\tdue\tnext 2026-11-23T06:45Z\n"
            "weekdays\t30 6 * * 1-5\tdue\tnext 2026-11-24T06:30Z\n",
        ),
        (
            ["--at", "2026-11-23T01:10+01:00", "--window", "11", "--all"],
            "nightly\t0 0 * * *\tdue\tnext 2026-11-24T00:00Z\n"
            "weekdays\t*/15 * * * *\tdue\tnext 2026-11-23T00:15Z\n"
            "weekdays\t30 6 * * 1-5\tnot due\tnext 2026-11-23T06:30Z\n",
        ),
    ],
)
def test_due_prints_one_line_per_schedule(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], out: str
) -> None:
    two_scheduled_workflows(project)

    code = main(["due", *args])

    assert (code, capsys.readouterr()) == (0, (out, ""))


@pytest.mark.parametrize(
    ("args", "err"),
    [
        (
            ["--at", "2026-11-23T00:10"],
            "nothing due at 2026-11-23T00:10Z; next: weekdays (*/15 * * * *) at "
            "2026-11-23T00:15Z; `nbflow due --all` lists every schedule\n",
        ),
        (
            ["--at", "2026-11-23T01:20+01:00", "--window", "5"],
            "nothing due at 2026-11-23T00:20Z or in the 5 minutes before; next: weekdays "
            "(*/15 * * * *) at 2026-11-23T00:30Z; `nbflow due --all` lists every schedule\n",
        ),
    ],
)
def test_due_says_when_nothing_is_due_and_what_comes_next(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], err: str
) -> None:
    two_scheduled_workflows(project)

    code = main(["due", *args])

    assert (code, capsys.readouterr()) == (0, ("", err))


def test_due_without_schedules_says_so(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = project / "workflows" / "adhoc"
    write_notebook(folder / "main.ipynb", None, ["1"])
    write_manifest(folder, "name: adhoc\nsteps:\n  - {id: main, notebook: main.ipynb}\n")

    code = main(["due"])

    assert (code, capsys.readouterr()) == (
        0,
        ("", "no workflow has a schedule (`on: {schedule: [CRON]}` in its workflow.yaml)\n"),
    )


def test_due_with_a_bad_time_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_scheduled_workflows(project)

    code = main(["due", "--at", "tomorrow"])

    assert (code, capsys.readouterr()) == (
        2,
        ("", "error: --at tomorrow: expected an ISO time such as 2026-11-23T00:00\n"),
    )


# -- time zones -------------------------------------------------------------------------


def in_paris(tmp_path: Path) -> Workflow:
    path = write_manifest(
        tmp_path / "paris",
        """
        name: paris
        on:
          schedule:
            - {cron: "0 6 * * *", timezone: Europe/Paris}
            - "30 12 * * *"
        steps:
          - id: main
            notebook: main.ipynb
        """,
    )
    return load_manifest(path, check_notebooks=False)


@pytest.mark.parametrize(
    ("at", "previous", "following"),
    [  # 6:00 in Paris is 5:00 UTC in winter (CET), 4:00 UTC in summer (CEST)
        (
            datetime(2026, 12, 2, 5, 0, tzinfo=UTC),
            datetime(2026, 12, 2, 5, 0, tzinfo=UTC),
            datetime(2026, 12, 3, 5, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 7, 1, 4, 0, tzinfo=UTC),
            datetime(2026, 7, 1, 4, 0, tzinfo=UTC),
            datetime(2026, 7, 2, 4, 0, tzinfo=UTC),
        ),
    ],
    ids=["winter", "summer"],
)
def test_due_at_reads_a_cron_in_its_time_zone(
    tmp_path: Path, at: datetime, previous: datetime, following: datetime
) -> None:
    paris, utc_entry = due_at([in_paris(tmp_path)], at)

    assert (paris.cron, paris.timezone, paris.due) == ("0 6 * * *", "Europe/Paris", True)
    assert (paris.previous, paris.next) == (previous, following)
    assert (utc_entry.timezone, utc_entry.due) == (None, False)


def test_schedule_names_the_cron_whatever_its_time_zone(tmp_path: Path) -> None:
    paris = in_paris(tmp_path)
    assert workflows_for_cron([paris], "0  6 * * *") == [paris]
    assert workflows_for_cron([paris], "30 12 * * *") == [paris]


def test_due_prints_the_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    in_paris(tmp_path / "workflows")
    write_notebook(tmp_path / "workflows" / "paris" / "main.ipynb", "")
    (tmp_path / "nbflow.yaml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["due", "--at", "2026-12-02T05:00:00+00:00", "--all"]) == 0
    assert capsys.readouterr().out == (
        "paris\t0 6 * * * (Europe/Paris)\tdue\tnext 2026-12-03T05:00Z\n"
        "paris\t30 12 * * *\tnot due\tnext 2026-12-02T12:30Z\n"
    )


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            '[{cron: "0 6 * * *", timezone: Mars/Olympus}]',
            "6:44: on.schedule[0].timezone: unknown time zone 'Mars/Olympus'; use an IANA "
            "time zone name such as Europe/Paris or America/New_York",
        ),
        (
            '[{cron: "0 6 * *", timezone: UTC}]',
            "6:21: on.schedule[0].cron: invalid cron expression '0 6 * *': expected 5 fields, "
            "got 4; use 5 fields: minute hour day-of-month month day-of-week, e.g. '0 0 * * *' "
            "(every day at midnight UTC)",
        ),
        (
            "[{timezone: UTC}]",
            "6:14: on.schedule[0]: missing required key 'cron'",
        ),
        (
            '["0 6 * * *", {cron: "0  6 * * *", timezone: Europe/Paris}]',
            "6:34: on.schedule[1].cron: cron '0 6 * * *' is listed twice; GitHub names only "
            "the cron that fired, so nbflow cannot tell the entries apart; keep one entry, or "
            "shift one by a minute",
        ),
    ],
    ids=["unknown-zone", "bad-cron", "no-cron", "twice"],
)
def test_a_bad_schedule_entry_is_located(tmp_path: Path, entries: str, message: str) -> None:
    path = write_manifest(
        tmp_path / "bad",
        f"""
        name: bad
        steps:
          - id: main
            notebook: main.ipynb
        on:
          schedule: {entries}
        """,
    )
    with pytest.raises(ManifestError) as exc:
        load_manifest(path, check_notebooks=False)
    assert str(exc.value) == f"{path}:{message}"
