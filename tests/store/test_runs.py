"""The run folder store: ids, atomic writes, record round trips, listing."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nbflow.errors import UsageError
from nbflow.run_record import Attempt, RunRecord, RunStatus, StepError, StepRecord, StepStatus
from nbflow.store import runs


def _record(
    run_id: str,
    *,
    workflow: str = "demo",
    status: RunStatus = RunStatus.SUCCEEDED,
    pid: int | None = None,
    outputs: dict[str, object] | None = None,
    step_status: StepStatus = StepStatus.SUCCEEDED,
) -> RunRecord:
    error = StepError("ValueError", "bad", 2, "Traceback ...") if step_status == "failed" else None
    step = StepRecord(
        id="a",
        status=step_status,
        needs=(),
        notebook="a.ipynb",
        source_notebook="a.ipynb",
        parameters={"n": 1, "when": "2026-11-20"},
        attempts=(
            Attempt(
                1, "2026-11-20T00:00:00.000Z", "2026-11-20T00:00:01.500Z", 1.5, step_status, error
            ),
        ),
        start="2026-11-20T00:00:00.000Z",
        end="2026-11-20T00:00:01.500Z",
        duration=1.5,
        error=error,
        outputs=outputs if outputs is not None else {"rows": 3, "by": {"eu": [1, 2.5]}},
    )
    skipped = StepRecord(id="b", status=StepStatus.SKIPPED, needs=("a",), reason="not selected")
    return RunRecord(
        workflow=workflow,
        run_id=run_id,
        status=status,
        trigger="schedule",
        start="2026-11-20T00:00:00.000Z",
        end="2026-11-20T00:00:02.000Z",
        duration=2.0,
        commit="0123456789abcdef0123456789abcdef01234567",
        parameters={"run_date": "2026-11-20", "tags": ["x"]},
        steps=(step, skipped),
        manifest=f"workflows/{workflow}/workflow.yaml",
        pid=pid,
    )


def test_new_run_id_sorts_by_time() -> None:
    run_id = runs.new_run_id(datetime(2026, 11, 20, 6, 30, 5, tzinfo=UTC))

    assert run_id.startswith("2026-11-20T063005Z-")
    assert runs.check_run_id(run_id) == run_id
    later = runs.new_run_id(datetime(2026, 11, 20, 6, 30, 6, tzinfo=UTC))
    assert sorted([later, run_id]) == [run_id, later]


def test_check_run_id_rejects_other_text() -> None:
    with pytest.raises(UsageError) as exc:
        runs.check_run_id("../etc")
    assert str(exc.value) == (
        "invalid run id '../etc': expected the form 2026-11-23T000000Z-ab12 (see `nbflow runs`)"
    )


def test_record_round_trips_through_run_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    record = _record(
        "2026-11-20T000000Z-ab12", step_status=StepStatus.FAILED, status=RunStatus.FAILED
    )

    runs.write_record(run_dir, record)

    assert runs.read_record(run_dir) == record
    assert [p.name for p in run_dir.iterdir()] == ["run.json"]


def test_atomic_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "run" / "README.md"

    runs.write_atomic(target, "first\n")
    runs.write_atomic(target, "second\n")

    assert target.read_text(encoding="utf-8") == "second\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["README.md"]


def test_atomic_write_that_fails_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "run" / "README.md"
    runs.write_atomic(target, "old\n")

    with pytest.raises(UnicodeEncodeError):
        runs.write_atomic(target, "half \udcff")

    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in target.parent.iterdir()] == ["README.md"]


def test_iter_run_dirs_lists_runs_oldest_first(tmp_path: Path) -> None:
    ids = ["2026-11-21T000000Z-0001", "2026-11-20T000000Z-ffff", "2026-11-20T120000Z-0000"]
    for run_id in ids:
        runs.write_record(runs.run_dir(tmp_path, "demo", run_id), _record(run_id))
    runs.write_record(runs.run_dir(tmp_path, "other", ids[0]), _record(ids[0], workflow="other"))
    (tmp_path / "demo" / "not-a-run").mkdir()
    (tmp_path / "demo" / "2026-11-22T000000Z-0000").mkdir()  # no run.json yet

    demo = [p.name for p in runs.iter_run_dirs(tmp_path, "demo")]
    every = [p.relative_to(tmp_path).as_posix() for p in runs.iter_run_dirs(tmp_path)]

    assert demo == sorted(ids)
    assert every == [f"demo/{i}" for i in sorted(ids)] + [f"other/{ids[0]}"]
    assert list(runs.iter_run_dirs(tmp_path, "missing")) == []


def test_find_run_and_latest_outputs(tmp_path: Path) -> None:
    old, new, failed = (
        "2026-11-20T000000Z-0000",
        "2026-11-21T000000Z-0000",
        "2026-11-22T000000Z-0000",
    )
    runs.write_record(runs.run_dir(tmp_path, "demo", old), _record(old, outputs={"rows": 1}))
    runs.write_record(runs.run_dir(tmp_path, "demo", new), _record(new, outputs={"rows": 2}))
    runs.write_record(
        runs.run_dir(tmp_path, "demo", failed),
        _record(failed, outputs={"rows": 3}, step_status=StepStatus.FAILED),
    )

    assert runs.find_run(tmp_path, new) == tmp_path / "demo" / new
    assert runs.latest_outputs(tmp_path, "demo", ["a", "b", "unknown"]) == {
        "a": (new, {"rows": 2})  # b only failed; no run has unknown
    }
    with pytest.raises(UsageError) as exc:
        runs.find_run(tmp_path, "2026-01-01T000000Z-0000")
    assert str(exc.value) == (
        f"no run '2026-01-01T000000Z-0000' under {tmp_path}; list runs with `nbflow runs`"
    )


def test_running_record_of_a_dead_process_is_interrupted() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    assert runs.is_interrupted(
        _record("2026-11-20T000000Z-0000", status=RunStatus.RUNNING, pid=dead.pid)
    )
    assert not runs.is_interrupted(
        _record("2026-11-20T000000Z-0000", status=RunStatus.RUNNING, pid=os.getpid())
    )
    assert not runs.is_interrupted(
        _record("2026-11-20T000000Z-0000", status=RunStatus.SUCCEEDED, pid=dead.pid)
    )
    assert runs.is_interrupted(_record("2026-11-20T000000Z-0000", status=RunStatus.RUNNING))


def test_runs_of_the_same_second_are_ordered_by_their_start(tmp_path: Path) -> None:
    # Same second, so the folder names differ only by their random suffix: the run
    # that started later ("0000") sorts first by name.
    earlier, later = "2026-11-20T000000Z-ffff", "2026-11-20T000000Z-0000"
    runs.write_record(
        runs.run_dir(tmp_path, "demo", earlier),
        replace(_record(earlier, outputs={"rows": 1}), start="2026-11-20T00:00:00.100Z"),
    )
    runs.write_record(
        runs.run_dir(tmp_path, "demo", later),
        replace(_record(later, outputs={"rows": 2}), start="2026-11-20T00:00:00.900Z"),
    )

    assert [p.name for p in runs.iter_run_dirs(tmp_path, "demo")] == [earlier, later]
    assert runs.latest_run(tmp_path, "demo").name == later
    assert runs.latest_outputs(tmp_path, "demo", ["a"]) == {"a": (later, {"rows": 2})}


def _same_second_history(tmp_path: Path) -> list[str]:
    """Runs of ``demo``: three in one second (started in the order of their random
    suffixes reversed), one alone, two more in a later second; ids oldest first."""
    starts = {
        "2026-11-20T000000Z-ffff": "2026-11-20T00:00:00.100Z",
        "2026-11-20T000000Z-8888": "2026-11-20T00:00:00.500Z",
        "2026-11-20T000000Z-0000": "2026-11-20T00:00:00.900Z",
        "2026-11-20T000005Z-1234": "2026-11-20T00:00:05.000Z",
        "2026-11-20T000009Z-9999": "2026-11-20T00:00:09.200Z",
        "2026-11-20T000009Z-0001": "2026-11-20T00:00:09.700Z",
    }
    for run_id, start in starts.items():
        runs.write_record(
            runs.run_dir(tmp_path, "demo", run_id), replace(_record(run_id), start=start)
        )
    return list(starts)


def test_runs_newest_first_are_the_runs_in_start_order_reversed(tmp_path: Path) -> None:
    oldest_first = _same_second_history(tmp_path)

    assert [p.name for p in runs.iter_run_dirs(tmp_path, "demo")] == oldest_first
    newest_first = [p.name for p in runs.run_dirs_newest_first(tmp_path, "demo")]
    assert newest_first == oldest_first[::-1]


def test_a_reader_of_the_newest_runs_reads_no_record_of_the_older_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached rerun looks at the newest run or two: ordering the runs of an old
    second that shared it (each record read for its start) cost every rerun a read
    of those records, a cost growing with the history."""
    _same_second_history(tmp_path)
    read: list[str] = []
    real_read_json = runs.read_json
    monkeypatch.setattr(runs, "read_json", lambda d: read.append(d.name) or real_read_json(d))

    assert runs.latest_outputs(tmp_path, "demo", ["a"])["a"][0] == "2026-11-20T000009Z-0001"

    assert read and all(name.startswith("2026-11-20T000009Z") for name in read), read


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_run_files_and_seeds_follow_the_umask_like_git(
    tmp_path: Path, umask: int, mode: int
) -> None:
    from nbflow.store.pieces import Seed, write_seed

    record = _record("2026-11-20T063000Z-0001")
    old = os.umask(umask)
    try:
        runs.write_record(tmp_path / "run", record)
        seed = write_seed(tmp_path / "seed", Seed(record))
    finally:
        os.umask(old)

    assert oct((tmp_path / "run" / runs.RECORD_FILE).stat().st_mode & 0o777) == oct(mode)
    assert oct(seed.stat().st_mode & 0o777) == oct(mode)
    assert [p.name for p in (tmp_path / "run").iterdir()] == [runs.RECORD_FILE]  # no temporary
