"""The recorder, the single writer of a run's record and report: run.json is written
after every change, its text built from each step's kept JSON (never stale); the
report at most once a second while the run goes on, and complete at its end.

The report's pace is measured on a clock the test moves by hand, so nothing here
depends on how fast the machine is."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from nbflow.engine.recorder import REPORT_EVERY, REPORT_SHARE, Recorder
from nbflow.report.run_report import render_report
from nbflow.run_record import (
    Attempt,
    ItemRecord,
    RunRecord,
    RunStatus,
    SlaMiss,
    StepError,
    StepRecord,
    StepStatus,
)
from nbflow.secrets import Redactor
from nbflow.store import runs

START = "2026-12-02T10:00:00.000Z"
SECRET = "s3cret-value-1234"


class Clock:
    """Seconds that pass only when the test says so, or ``tick`` at each reading."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def _record(steps: int) -> RunRecord:
    ids = [f"s{i}" for i in range(steps)]
    steps = tuple(
        StepRecord(i, needs=(ids[n - 1],) if n else (), source_notebook=f"{i}.ipynb")
        for n, i in enumerate(ids)
    )
    record = RunRecord("chain", "2026-12-02T100000Z-ab12", RunStatus.RUNNING, "manual", START)
    return replace(record, logical_time=START, parameters={"region": "eu"}, steps=steps)


def _recorder(tmp_path: Path, steps: int, clock: Clock, secrets: dict[str, str] | None = None):
    folder = tmp_path / "runs" / "chain" / "2026-12-02T100000Z-ab12"
    recorder = Recorder(folder, _record(steps), Redactor(secrets or {}), clock=clock)
    recorder.start()
    return recorder, folder


def _report(folder: Path) -> str:
    return (folder / runs.REPORT_FILE).read_text(encoding="utf-8")


def _from_scratch(record: RunRecord) -> str:
    return json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n"


def test_many_quick_changes_write_the_report_far_less_often_yet_complete_at_the_end(tmp_path):
    clock = Clock()
    recorder, folder = _recorder(tmp_path, 50, clock)
    reports, changes = [_report(folder)], 0
    for step in recorder.record.steps:  # 100 changes over 5 seconds of the clock
        for status in (StepStatus.RUNNING, StepStatus.SUCCEEDED):
            clock.now += 0.05
            recorder.update(replace(recorder.step(step.id), status=status))
            changes += 1
            # the record is written at once, every time (--resume reads it)
            assert runs.read_record(folder).step(step.id).status is status
            if _report(folder) != reports[-1]:
                reports.append(_report(folder))
    # one report at the start, then about one per second of the clock: not one per change
    assert changes == 100
    assert 4 <= len(reports) <= 1 + 5 / REPORT_EVERY + 1
    final = recorder.finish(RunStatus.SUCCEEDED)
    # the finished run's report is the rendering of its final record, whatever the clock
    assert _report(folder) == render_report(final)
    assert final.count(StepStatus.SUCCEEDED) == 50


def test_a_report_slow_to_render_is_written_less_often(tmp_path):
    # every reading of the clock is half a second later: rendering "takes" 0.5 s, so the
    # report waits 0.5 / REPORT_SHARE = 5 s, not REPORT_EVERY, before it is written again
    clock = Clock(tick=0.5)
    recorder, folder = _recorder(tmp_path, 50, clock)
    reports = [_report(folder)]
    for step in recorder.record.steps:
        for status in (StepStatus.RUNNING, StepStatus.SUCCEEDED):
            recorder.update(replace(recorder.step(step.id), status=status))
            if _report(folder) != reports[-1]:
                reports.append(_report(folder))
    wait = 0.5 / REPORT_SHARE
    assert wait > REPORT_EVERY
    assert len(reports) <= 1 + clock.now / wait + 1  # ~11, not one per second (~35)
    assert _report(folder) != render_report(recorder.record)  # behind, while running
    recorder.finish(RunStatus.SUCCEEDED)
    assert _report(folder) == render_report(recorder.record)


def test_a_change_the_report_was_too_recent_for_is_written_by_a_later_heartbeat(tmp_path):
    clock = Clock()
    recorder, folder = _recorder(tmp_path, 3, clock)
    at_start = _report(folder)
    clock.now += REPORT_EVERY / 10
    recorder.update(replace(recorder.step("s0"), status=StepStatus.RUNNING))
    recorder.heartbeat()
    assert _report(folder) == at_start  # too soon: only run.json has the change
    clock.now += REPORT_EVERY
    recorder.heartbeat()  # the run loop's turn, no change since
    assert _report(folder) == render_report(recorder.record) != at_start
    assert "running" in _report(folder)


def test_run_json_after_each_change_is_what_a_fresh_serialisation_gives(tmp_path):
    clock = Clock()
    secrets = {"TOKEN": SECRET}
    recorder, folder = _recorder(tmp_path, 4, clock, secrets)

    def check() -> None:
        text = (folder / runs.RECORD_FILE).read_text(encoding="utf-8")
        assert text == _from_scratch(recorder.record)
        assert SECRET not in text

    check()
    failed = Attempt(1, START, START, 0.5, StepStatus.FAILED, StepError("E", "boom\nline 2", 3))
    changes = [
        ("s0", {"status": StepStatus.RUNNING, "start": START}),
        ("s0", {"attempts": (failed,), "error": failed.error}),  # an attempt failed
        ("s0", {"attempts": (failed, replace(failed, number=2, status=StepStatus.SUCCEEDED))}),
        ("s0", {"status": StepStatus.SUCCEEDED, "error": None, "outputs": {"rows": 3}}),
        ("s0", {"outputs": {"rows": 4, "note": f'naïve — {SECRET}\n"quoted"'}}),  # changed
        ("s1", {"status": StepStatus.RUNNING, "items": (ItemRecord(index=0, value="eu"),)}),
        ("s1", {"items": (ItemRecord(index=0, value="eu"), ItemRecord(index=1, value="us"))}),
        ("s1", {"status": StepStatus.FAILED, "reason": "item us failed"}),
        ("s2", {"status": StepStatus.SKIPPED, "reason": "needs 's1', which failed"}),
    ]
    for step_id, values in changes:
        recorder.update(replace(recorder.step(step_id), **values))
        check()
    # a change of the record around the steps (an SLA missed), then the end
    recorder.note(replace(recorder.record, sla_misses=(SlaMiss("s3", 60.0, START),)))
    check()
    recorder.update(replace(recorder.step("s3"), status=StepStatus.CANCELLED))
    check()
    recorder.finish(RunStatus.FAILED)
    check()
    assert runs.read_record(folder) == recorder.record
    assert runs.read_record(folder).step("s0").outputs["note"].startswith("naïve — ***")
