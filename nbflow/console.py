"""Terminal output: logging set-up and run progress. The only module adding handlers.

On a terminal, a live table shows every step with its state and elapsed time,
concurrent steps side by side. Elsewhere (CI, pipes) one line per state change;
under GitHub Actions each step's log is a collapsible group. Everything goes to
stderr: stdout carries results only (``--json``, paths).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO, Any

from nbflow.run_record import RunRecord, StepRecord, StepStatus, parse_time
from nbflow.secrets import Redactor

STATUS_STYLE = {
    StepStatus.PENDING: ("·", "dim"),
    StepStatus.RUNNING: ("▶", "bold blue"),
    StepStatus.SUCCEEDED: ("✓", "green"),
    StepStatus.FAILED: ("✗", "bold red"),
    StepStatus.SKIPPED: ("-", "dim"),
    StepStatus.CANCELLED: ("■", "yellow"),
    StepStatus.CACHED: ("♻", "cyan"),
}


def is_ci() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS"))


def is_interactive(stream: IO[str] | None = None) -> bool:
    stream = stream or sys.stderr
    return stream.isatty() and not is_ci() and os.environ.get("TERM") != "dumb"


def setup_logging(verbosity: int = 0) -> None:
    """Log to stderr: warnings by default, info with -v, debug with -vv."""
    level = logging.WARNING - 10 * verbosity
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.DEBUG))
    logging.getLogger("papermill").setLevel(logging.INFO if verbosity > 1 else logging.WARNING)
    for noisy in ("traitlets", "asyncio", "nbclient", "git"):
        logging.getLogger(noisy).setLevel(logging.ERROR if verbosity < 2 else logging.DEBUG)


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.text(record.getMessage())
        record.args = None
        return True


_redactors: list[Redactor] = []  # of every workflow run by this process


def redact_logs(redactor: Redactor) -> None:
    """Mask secret values in every log line nbflow prints (notebook output included),
    and in the error messages the command line prints (see :func:`redact`)."""
    if not redactor:
        return
    _redactors.append(redactor)
    for name in ("", "papermill"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_RedactingFilter(redactor))


def redact(text: str) -> str:
    """``text`` with the secrets of the workflows this process runs masked: an error
    message may quote a value given on the command line (``-p limit=TOKEN``)."""
    for redactor in _redactors:
        text = redactor.text(text)
    return text


def enable_notebook_output() -> None:
    """Stream notebook output (papermill's ``log_output``) to stderr, prefixed with the step."""
    logger = logging.getLogger("papermill")
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  | [%(threadName)s] %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False


def _elapsed(step: StepRecord) -> str:
    if step.duration is not None:
        return f"{step.duration:.1f} s"
    if step.start and step.status == StepStatus.RUNNING:
        started = parse_time(step.start).timestamp()
        return f"{max(0.0, time.time() - started):.1f} s"
    return ""


def step_line(step: StepRecord) -> str:
    """One plain line describing a step's state."""
    mark, _ = STATUS_STYLE.get(step.status, ("?", ""))
    detail = ""
    if step.error:
        detail = f" — {step.error.summary}"
    elif step.reason and step.status != StepStatus.PENDING:
        detail = f" — {step.reason}"
    attempts = f" (attempt {len(step.attempts)})" if len(step.attempts) > 1 else ""
    elapsed = f" {_elapsed(step)}" if step.status.is_final and step.duration is not None else ""
    items = ""
    if step.items and not step.status.is_final:
        items = f" ({sum(i.status.is_final for i in step.items)}/{len(step.items)} items done)"
    return f"{mark} {step.id} {step.status.value}{elapsed}{attempts}{items}{detail}"


class PlainProgress:
    """One line per state change; GitHub Actions log groups around running steps."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.github = bool(os.environ.get("GITHUB_ACTIONS"))
        self.shown: dict[str, str] = {}  # the last line printed for each step

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def run_started(self, record: RunRecord) -> None:
        self._print(f"nbflow: {record.workflow} run {record.run_id} started")

    def step_changed(self, record: RunRecord, step: StepRecord) -> None:
        line = step_line(step)
        if self.shown.get(step.id) == line:
            return  # a sweep's item started: nothing new to say about the step
        if self.github and step.status == StepStatus.RUNNING and step.id not in self.shown:
            self._print(f"::group::{step.id}")
        self.shown[step.id] = line
        self._print(line)
        if self.github and step.status.is_final and step.attempts:
            self._print("::endgroup::")

    def run_finished(self, record: RunRecord) -> None:
        self._print(_finish_line(record))


def _finish_line(record: RunRecord) -> str:
    done = record.count(StepStatus.SUCCEEDED) + record.count(StepStatus.CACHED)
    total = len(record.steps)
    took = f" in {record.duration:.1f} s" if record.duration is not None else ""
    cached = record.count(StepStatus.CACHED)
    reused = f", {cached} cached" if cached else ""
    return f"nbflow: {record.workflow} {record.status.value} ({done}/{total} steps{reused}){took}"


class LiveProgress:
    """A rich live table of steps, refreshed while the run executes."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream or sys.stderr)
        self.record: RunRecord | None = None
        self.live = Live(console=self.console, refresh_per_second=8, get_renderable=self._render)

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        for step in self.record.steps if self.record else ():
            mark, style = STATUS_STYLE.get(step.status, ("?", ""))
            detail = step.error.summary if step.error else step.reason
            table.add_row(
                f"[{style}]{mark}[/]",
                step.id,
                f"[{style}]{step.status.value}[/]",
                _elapsed(step),
                detail or "",
            )
        return table

    def run_started(self, record: RunRecord) -> None:
        self.record = record
        self.console.print(f"[bold]{record.workflow}[/] run {record.run_id}")
        self.live.start()

    def step_changed(self, record: RunRecord, step: StepRecord) -> None:
        self.record = record

    def run_finished(self, record: RunRecord) -> None:
        self.record = record
        self.live.refresh()
        self.live.stop()
        self.console.print(_finish_line(record))


def progress(stream: IO[str] | None = None) -> PlainProgress | LiveProgress:
    """The progress view that suits where output goes."""
    return LiveProgress(stream) if is_interactive(stream) else PlainProgress(stream)
