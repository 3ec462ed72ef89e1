"""The single writer of a run's record (``run.json``) and report while the run lasts.

Every change of a step goes through :meth:`Recorder.update` on the runner's main
thread: the step is redacted, the record is saved (an interrupted run leaves an
accurate record behind: ``--resume`` reads it) and the observer is told. Only the
steps that changed are serialised again (store/record_text.py). The report, a
rendering of the whole run, is written at most once every :data:`REPORT_EVERY`
seconds while the run goes on, and less often when rendering it takes more than
:data:`REPORT_SHARE` of the time (a change that finds it written too recently is
written by a later save or heartbeat), and always once the run has finished, so a
finished run's report is the rendering of its final record. Saves can be deferred
to write once for a burst of changes (a turn of the runner's loop: the steps that
finished and those they let start, saved before those start; the final record after
a write failure); deferrals nest. When the run ends, its report gains what changed in
its notebooks since the previous run (report/notebook_changes.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from nbflow.errors import WriteError
from nbflow.report.run_diff import RunDiff
from nbflow.run_record import RunRecord, RunStatus, StepRecord, StepStatus, seconds_between, utc_now
from nbflow.secrets import Redactor
from nbflow.store import runs
from nbflow.store.record_text import RecordText

log = logging.getLogger(__name__)

#: Seconds: the report is written at most this often while a run goes on.
REPORT_EVERY = 1.0
#: ... and rendering it takes at most this share of the run's time: a large run's
#: report on a loaded machine may take a good part of a second to render.
REPORT_SHARE = 0.1


class RunObserver(Protocol):
    """Told about every change of a run, on the thread that runs it."""

    def run_started(self, record: RunRecord) -> None: ...

    def step_changed(self, record: RunRecord, step: StepRecord) -> None: ...

    def run_finished(self, record: RunRecord) -> None: ...


class Recorder:
    """A run's record, saved after every change, and its report (see the module's
    doc). ``clock`` gives the seconds the report's pace is measured in."""

    def __init__(
        self,
        folder: Path,
        record: RunRecord,
        redactor: Redactor,
        observer: RunObserver | None = None,
        on_stopped: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder, self.redactor, self.observer = folder, redactor, observer
        self.record = replace(record, parameters=redactor.data(record.parameters))
        self._on_stopped = on_stopped  # told the id of a step skipped or cancelled
        self._deferred = self._pending = False
        # after a write failure saving the record is best effort (the run is stopping)
        self.best_effort = False
        self._changes: RunDiff | None = None  # the notebooks against the previous run's
        self._text = RecordText()  # run.json's text, each step's piece kept
        self._clock = clock
        self._next_report: float | None = None  # when the report may be written again
        self._report_stale = False  # the record changed since the report was written
        self._finished = False  # the run ended: every save writes the report too
        self._watchers: list[Callable[[str], None]] = []  # told the id of each step changed
        #: the steps running now (SLAs are watched over these alone: engine/sla.py)
        self.running = {s.id for s in self.record.steps if s.status is StepStatus.RUNNING}

    def step(self, step_id: str) -> StepRecord:
        return self.record.step(step_id)

    def watch(self, watcher: Callable[[str], None]) -> None:
        """Tell ``watcher`` the id of each step whose record changes, once it has."""
        self._watchers.append(watcher)

    def start(self) -> None:
        """Save the record as the run starts."""
        self.save()
        if self.observer:
            self.observer.run_started(self.record)

    def update(self, step: StepRecord) -> None:
        """Record a change of ``step`` (redacted), save, and tell the observer."""
        stopped = step.status in (StepStatus.SKIPPED, StepStatus.CANCELLED)
        if stopped and self._on_stopped:
            self._on_stopped(step.id)
        self.record = self.record.with_step(self._redact(step))
        if step.status is StepStatus.RUNNING:
            self.running.add(step.id)
        else:
            self.running.discard(step.id)
        for watcher in self._watchers:
            watcher(step.id)
        self.save()
        if self.observer:
            self.observer.step_changed(self.record, step)

    def note(self, record: RunRecord) -> None:
        """Take ``record`` as the run's (this record with SLA misses added), and save."""
        self.record = record
        self.save()

    def finish(self, status: RunStatus) -> RunRecord:
        """Record the run's end with ``status``; the final record."""
        end = utc_now()
        duration = seconds_between(self.record.start, end)
        self.record = replace(self.record, status=status, end=end, duration=duration)
        self._changes = self._notebook_changes()
        self._finished = True
        self.save()
        if self.observer:
            self.observer.run_finished(self.record)
        return self.record

    def _redact(self, step: StepRecord) -> StepRecord:
        """The step with every secret value masked: records, reports, notifications and
        commit messages are all made from the redacted record."""
        if not self.redactor:
            return step
        return StepRecord.from_json(self.redactor.data(step.to_json()))

    def _notebook_changes(self) -> RunDiff | None:
        """The run's notebooks against the previous run's (runs/<workflow>/<run-id>/:
        the runs folder is two levels up); None when there is none, or on failure."""
        from nbflow.report.notebook_changes import diff_with_previous

        try:
            return diff_with_previous(self.folder.parent.parent, self.folder, self.record)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # the report goes on
            log.warning("no notebook changes in the report: %s", exc)
            return None

    def heartbeat(self) -> None:
        """Touch run.json while steps run: if this process dies (``kill -9``), its
        modification time tells ``--resume`` how long the cut attempts ran."""
        with contextlib.suppress(OSError):
            os.utime(self.folder / runs.RECORD_FILE)
        try:
            self._report_if_due()  # a change the report was too recent for
        except WriteError as exc:
            self._write_failed(exc)

    def save(self) -> None:
        """Write the record, and the report when it is due (later, while saves are
        deferred)."""
        if self._deferred:
            self._pending = True
            return
        self._pending = False
        self._report_stale = True
        try:
            runs.write_record(self.folder, self.record, self._text.text(self.record))
            self._report_if_due()
        except WriteError as exc:
            self._write_failed(exc)

    def _report_if_due(self) -> None:
        """Write the report if the record changed since it was written, and either the
        run has finished or the report's pace allows: ``REPORT_EVERY`` seconds since it
        was last written, and at least ``1 / REPORT_SHARE`` times what writing it took."""
        from nbflow.report.run_report import render_report

        if not self._report_stale or self._deferred:
            return
        start = self._clock()
        if not self._finished and self._next_report is not None and start < self._next_report:
            return
        report = render_report(self.record, notebook_changes=self._changes)
        runs.write_atomic(self.folder / runs.REPORT_FILE, report)
        took = self._clock() - start
        self._next_report = start + max(REPORT_EVERY, took / REPORT_SHARE)
        self._report_stale = False

    def _write_failed(self, exc: WriteError) -> None:
        if not self.best_effort:
            raise exc
        log.debug("the record is as last written: %s", exc)

    @contextlib.contextmanager
    def deferred_saves(self) -> Iterator[None]:
        """Save once, at the end, for every change made meanwhile (nested: at the end
        of the outermost)."""
        outermost, self._deferred = not self._deferred, True
        try:
            yield
        finally:
            if outermost:
                self._deferred = False
                if self._pending:
                    self.save()
