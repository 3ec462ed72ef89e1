"""Terminal output: logging set-up and run progress. The only module adding handlers.

On a terminal, a live table shows every step with its state and elapsed time,
concurrent steps side by side. Elsewhere (CI, pipes) one line per state change.

Under GitHub Actions each executed step's log is a collapsible group, printed
whole when the step finishes: its header is the step's final line (status,
duration, error), its body the step's notebook output (``--log-output``), earlier
attempts and traceback. GitHub does not nest groups, so a group opened when a step
starts would collect the lines of every step running beside it; start events are
single lines outside any group instead, and notebook output is held per step (by
thread name: the runner names each worker thread after its step or item) until the
step's group is printed. Everything goes to stderr: stdout carries results only
(``--json``, paths).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO, Any

from nbflow.run_record import Attempt, RunRecord, StepRecord, StepStatus, parse_time
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
    return bool(os.environ.get("CI")) or is_github_actions()


def is_github_actions() -> bool:
    return bool(os.environ.get("GITHUB_ACTIONS"))


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
    papermill = logging.getLogger("papermill")
    papermill.setLevel(logging.INFO if verbosity > 1 else logging.WARNING)
    papermill.handlers[:] = []  # an earlier enable_notebook_output's, in this process
    papermill.propagate = True
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
    """Show notebook output (papermill's ``log_output``) on stderr, prefixed with the
    step: streamed, or under GitHub Actions held until the step's log group is printed."""
    logger = logging.getLogger("papermill")
    logger.setLevel(logging.INFO)
    handler = _StepOutput() if is_github_actions() else logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OutputFormatter())
    logger.handlers[:] = [handler]
    logger.propagate = False


class _OutputFormatter(logging.Formatter):
    """``  | [step] `` before every line of the output, so that each line names its
    step and none reads as a GitHub workflow command (``::endgroup::``)."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"  | [{record.threadName}] "
        return "\n".join(prefix + line for line in super().format(record).splitlines() or [""])


class _StepOutput(logging.Handler):
    """Notebook output held per step (and item) until :class:`PlainProgress` prints the
    step's log group, so that steps running in parallel keep their lines apart."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, list[str]] = {}  # by thread name: a step id, or an item's label

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.setdefault(record.threadName or "", []).append(self.format(record))

    def take(self, names: list[str] | None = None) -> list[str]:
        """The lines held for the threads ``names`` (None: all), in that order, forgotten."""
        self.acquire()
        try:
            names = list(self.lines) if names is None else names
            return [line for name in names for line in self.lines.pop(name, ())]
        finally:
            self.release()


def _held_output(names: list[str] | None = None) -> list[str]:
    """Notebook output held for ``names`` (None: all), when it is held."""
    held = [h for h in logging.getLogger("papermill").handlers if isinstance(h, _StepOutput)]
    return [line for handler in held for line in handler.take(names)]


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
    attempts = _attempt_number(step)
    elapsed = f" {_elapsed(step)}" if step.status.is_final and step.duration is not None else ""
    items = ""
    if step.items and not step.status.is_final:
        items = f" ({sum(i.status.is_final for i in step.items)}/{len(step.items)} items done)"
    return f"{mark} {step.id} {step.status.value}{elapsed}{attempts}{items}{detail}"


def _attempt_number(step: StepRecord) -> str:
    """`` (attempt 2)`` for a step past its first attempt: while it runs, the attempt
    under way (after those a resumed run made); once final, its last."""
    number = len(step.attempts) + (step.status == StepStatus.RUNNING)
    return f" (attempt {number})" if number > 1 else ""


class PlainProgress:
    """One line per state change; under GitHub Actions a log group for each step that
    finished with something to show (see the module docstring)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.github = is_github_actions()
        self.shown: dict[str, str] = {}  # the last line printed for each step

    def _print(self, *lines: str) -> None:
        # one write: a line another thread logs meanwhile cannot land inside a group
        self.stream.write("".join(f"{line}\n" for line in lines))
        self.stream.flush()

    def run_started(self, record: RunRecord) -> None:
        self._print(f"nbflow: {record.workflow} run {record.run_id} started")

    def step_changed(self, record: RunRecord, step: StepRecord) -> None:
        line = step_line(step)
        if self.shown.get(step.id) == line:
            return  # a sweep's item started: nothing new to say about the step
        self.shown[step.id] = line
        body = _step_log(record.step(step.id)) if self.github and step.status.is_final else []
        if body:
            self._print(redact(f"::group::{line}"), *map(redact, body), "::endgroup::")
        else:
            self._print(line)

    def run_finished(self, record: RunRecord) -> None:
        self._print(*map(redact, _held_output()), _finish_line(record))


def _step_log(step: StepRecord) -> list[str]:
    """What a finished step's log group holds: its notebook output when held (its
    items' in item order), then, indented so that no line reads as a workflow command,
    its attempts when it was retried and its tracebacks."""
    names = list(dict.fromkeys([step.id, *(item.label(step.id) for item in step.items)]))
    details: list[str] = []
    if len(step.attempts) > 1:
        details += [_attempt_line(attempt) for attempt in step.attempts]
    failed = [(item.label(step.id), item.error) for item in step.items if item.error]
    for label, error in failed:
        details += [f"{label}: {error.summary}", *error.traceback.splitlines()]
    if not failed and step.error is not None:
        details += step.error.traceback.splitlines()
    return _held_output(names) + [f"  {line}" if line else "" for line in details]


def _attempt_line(attempt: Attempt) -> str:
    error = f" — {attempt.error.summary}" if attempt.error else ""
    return f"attempt {attempt.number} {attempt.status.value} {attempt.duration:.1f} s{error}"


def _finish_line(record: RunRecord) -> str:
    done = record.count_done()
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


class TickProgress:
    """Progress over the ticks of a backfill or a catch-up: a rich progress bar on a
    terminal, else one line per tick started and finished. Thread-safe."""

    def __init__(self, workflow: str, total: int, stream: IO[str] | None = None) -> None:
        import threading

        self.stream = stream or sys.stderr
        self.workflow, self.total, self.ended = workflow, total, 0
        self.lock = threading.Lock()
        self.bar: Any = None
        if is_interactive(self.stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
            self.bar = Progress(*columns, console=Console(file=self.stream))
            self.task = self.bar.add_task(f"{workflow} ticks", total=total)
            self.bar.start()

    def started(self, tick: str) -> None:
        with self.lock:
            self._say(f"nbflow: {self.workflow} {tick}: running")

    def finished(self, tick: str, state: str, detail: str = "") -> None:
        with self.lock:
            self.ended += 1
            more = f" ({detail})" if detail else ""
            self._say(f"nbflow: {self.workflow} {tick}: {state}{more} [{self.ended}/{self.total}]")
            if self.bar is not None:
                self.bar.update(self.task, completed=self.ended)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.print(line, markup=False, highlight=False)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()
