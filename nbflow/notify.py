"""Notify when a run ends (the manifest's ``notify:`` URLs, sent through Apprise), and
when it misses an SLA while it runs (``notify.on_sla_miss``).

Design decisions:

- The only module importing ``apprise``, and only when there is something to send,
  so ``nbflow --help`` stays instant and a broken Apprise install cannot fail a run.
- A notification never changes a run's outcome: :func:`notify_run` never raises.
  A URL that resolves to nothing (``${{ env.X }}`` with X unset or empty) is
  skipped with an INFO line, so a workflow can carry ``notify:`` and notify only
  where the variable is set (CI, not a laptop). A failed delivery is a WARNING.
- Notification URLs hold tokens (``discord://ID/TOKEN``), so logs name a URL only
  as ``scheme://***``. Apprise and urllib3 log URLs at DEBUG (``-vv``); while a
  notification is sent, a filter on their loggers masks the URL's parts in every
  record they emit, and keeps the warnings as the delivery's error.
- ``secrets.X`` resolves only when X is declared under ``secrets:`` (the loader
  already rejects others; this also holds for a hand-built Workflow).
- Delivery is bounded by Apprise's socket timeouts, capped at
  :data:`TIMEOUT_SECONDS` for connecting and for reading.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from nbflow.manifest.expressions import Context, ExpressionError, find_references, resolve
from nbflow.manifest.model import Workflow
from nbflow.project import project_of_manifest
from nbflow.report.run_report import format_duration, strip_ansi
from nbflow.run_record import RunRecord, RunStatus, SlaMiss, StepRecord, StepStatus

__all__ = [
    "TIMEOUT_SECONDS",
    "Delivery",
    "default_notebook_url",
    "notify_run",
    "notify_sla_miss",
    "redact_url",
]

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_MESSAGE_CHARS = 500

NotebookUrl = Callable[[str], str]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_URL_PARTS = re.compile(r"[/:@?&=#,]+")
# Loggers that write a URL's path at DEBUG. A logger's filters see only its own
# records, not its children's, so urllib3's is named in full.
_MASKED_LOGGERS = ("apprise", "urllib3.connectionpool")
_MIN_SECRET_CHARS = 4  # shorter URL parts ("json", "80") are masked only as a whole URL


@dataclass(frozen=True)
class Delivery:
    """The outcome of one notification URL: the URL as logged, and why it failed."""

    url_redacted: str
    ok: bool
    error: str = ""


def notify_run(
    workflow: Workflow,
    record: RunRecord,
    *,
    env: Mapping[str, str],
    notebook_url: NotebookUrl | None = None,
) -> list[Delivery]:
    """Send the run's ``on_failure`` or ``on_success`` notifications; never raises.

    Args:
        env: the environment ``${{ env.X }}``/``${{ secrets.X }}`` and the GitHub
            Actions variables are read from.
        notebook_url: maps a path relative to the run folder to a link; by default
            :func:`default_notebook_url`.
    """
    try:
        urls = _urls_for(workflow, record)
        if not urls:
            return []
        url = notebook_url or default_notebook_url(workflow, record, env)
        title, body = _title(record), _body(record, url, env)
        resolved = [u for u in (_resolve_url(t, workflow, record, env) for t in urls) if u]
        return [_deliver(u, title, body, _notify_type(record)) for u in resolved]
    except Exception as exc:  # a bug here must not fail the run
        log.warning("notify: not notifying after an internal error (a bug): %s", type(exc).__name__)
        return []


def notify_sla_miss(
    workflow: Workflow, record: RunRecord, miss: SlaMiss, *, env: Mapping[str, str]
) -> list[Delivery]:
    """Send the ``on_sla_miss`` notifications for ``miss`` while ``record`` runs;
    never raises (the run goes on whatever happens here)."""
    try:
        urls = workflow.notify.on_sla_miss
        if not urls:
            return []
        url = default_notebook_url(workflow, record, env)
        sla = format_duration(miss.sla)
        title = f"nbflow: {record.workflow}: {miss.what} missed its SLA ({sla})"
        running = [s.id for s in record.steps if s.status == StepStatus.RUNNING]
        lines = [
            f"Workflow {_code(record.workflow)} · run {_code(record.run_id)} · "
            f"{miss.what} is still going past its SLA of {sla}.",
            "Running: " + (", ".join(_code(s) for s in running) or "nothing (waiting)"),
            f"Report: {url('README.md')}",
        ]
        resolved = [u for u in (_resolve_url(t, workflow, record, env) for t in urls) if u]
        return [_deliver(u, title, "\n\n".join(lines), "warning") for u in resolved]
    except Exception as exc:  # a bug here must not fail the run
        log.warning("notify: not notifying after an internal error (a bug): %s", type(exc).__name__)
        return []


def redact_url(url: str) -> str:
    """``scheme://***``: a notification URL as it may be logged."""
    match = _SCHEME.match(url.strip())
    return f"{match.group(1).lower()}://***" if match else "***"


def default_notebook_url(
    workflow: Workflow, record: RunRecord, env: Mapping[str, str]
) -> NotebookUrl:
    """Links into the run folder: on GitHub when on Actions, else local paths.

    On Actions the link is ``${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/blob/SHA/
    runs/<workflow>/<run-id>/<path>`` with SHA from ``GITHUB_SHA`` (or the ref
    ``GITHUB_REF_NAME``); the project's folder within ``GITHUB_WORKSPACE`` is kept.
    """
    project = project_of_manifest(workflow.manifest)
    folder = project.runs_dir / record.workflow / record.run_id
    server, repo = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
    commit = env.get("GITHUB_SHA") or env.get("GITHUB_REF_NAME")
    if not (server and repo and commit):
        return lambda path: str(folder / path)
    inside = _path_in_workspace(folder, env.get("GITHUB_WORKSPACE"))
    base = f"{server.rstrip('/')}/{repo}/blob/{quote(commit)}/{quote(inside)}"
    return lambda path: f"{base}/{quote(path)}"


def _path_in_workspace(folder: Path, workspace: str | None) -> str:
    """``folder`` relative to the checkout; ``runs/<wf>/<id>`` when that is unknown."""
    if workspace:
        try:
            return folder.resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return "/".join(folder.parts[-3:])


# URLs ------------------------------------------------------------------------------


def _urls_for(workflow: Workflow, record: RunRecord) -> Sequence[str]:
    if record.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return workflow.notify.on_failure
    if record.status == RunStatus.SUCCEEDED:
        return workflow.notify.on_success
    return ()


def _resolve_url(
    text: str, workflow: Workflow, record: RunRecord, env: Mapping[str, str]
) -> str | None:
    """The URL ``text`` names, or None (logged) when a variable it needs is unset."""
    present = {k: v for k, v in env.items() if v}  # Actions gives unset secrets as ""
    for ref in find_references(text):
        if ref.kind == "secrets" and ref.name not in workflow.secrets:
            log.warning(
                "notify: secret %s is not declared under `secrets:`; not notifying", ref.name
            )
            return None
        if ref.kind in ("env", "secrets") and ref.name not in present:
            log.info("notify: %s is not set; not notifying", ref.name)
            return None
    context = Context(params=record.parameters, run=record.run_context, env=present)
    try:
        url = str(resolve(text, context)).strip()
    except ExpressionError as exc:
        log.warning("notify: %s; not notifying", exc)
        return None
    if not url:
        log.info("notify: a notification URL is empty; not notifying")
    return url or None


# The message ---------------------------------------------------------------------------


def _title(record: RunRecord) -> str:
    """``nbflow: finance-daily failed (3/4 steps)``."""
    done = record.count(StepStatus.SUCCEEDED)
    return f"nbflow: {record.workflow} {record.status.value} ({done}/{len(record.steps)} steps)"


def _body(record: RunRecord, url: NotebookUrl, env: Mapping[str, str]) -> str:
    """Markdown: the run, each failed or cancelled step with its error, and links."""
    head = (
        f"Workflow {_code(record.workflow)} {record.status.value} · "
        f"run {_code(record.run_id)} · trigger {_code(record.trigger)}"
    )
    steps = [_step_part(s, url) for s in record.steps if s.status in _REPORTED]
    links = [f"Report: {url('README.md')}"]
    if run_url := _actions_run_url(env):
        links.insert(0, f"Actions run: {run_url}")
    return "\n\n".join([head, *steps, "\n".join(links)])


_REPORTED = (StepStatus.FAILED, StepStatus.CANCELLED)


def _step_part(step: StepRecord, url: NotebookUrl) -> str:
    lines = [f"Step {_code(step.id)} {step.status.value}{_step_cause(step)}"]
    if step.notebook or step.attempts:
        lines.append(f"Notebook: {url(step.notebook or f'{step.id}.ipynb')}")
    return "  \n".join(lines)  # two spaces: a Markdown line break


def _step_cause(step: StepRecord) -> str:
    error = step.error
    if error is None:
        return f": {_shorten(step.reason)}" if step.reason else ""
    cell = f" at cell index {error.cell}" if error.cell is not None else ""
    return f"{cell}: {_code(_shorten(f'{error.ename}: {error.evalue}'))}"


def _actions_run_url(env: Mapping[str, str]) -> str | None:
    keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    server, repo, run_id = (env.get(k) for k in keys)
    if server and repo and run_id:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"
    return None


def _shorten(text: str) -> str:
    """One line without ANSI codes, cut to MAX_MESSAGE_CHARS."""
    line = " ".join(strip_ansi(text).split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


def _code(text: str) -> str:
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _notify_type(record: RunRecord) -> str:
    return {RunStatus.SUCCEEDED: "success", RunStatus.CANCELLED: "warning"}.get(
        record.status, "failure"
    )


# Delivery ------------------------------------------------------------------------------


def _deliver(url: str, title: str, body: str, notify_type: str) -> Delivery:
    """Send one notification; a failure is logged and returned, never raised."""
    redacted, secrets = redact_url(url), _secret_parts(url)
    with _masked_apprise_logs(secrets) as warnings:
        try:
            sent = _send(url, title, body, notify_type)
            error = "" if sent else "; ".join(warnings) or "not delivered"
        except Exception as exc:  # Apprise or a plugin raising is a failed delivery
            error = f"{type(exc).__name__}: {exc}"
    if error:
        error = _mask(error, secrets)
        log.warning("notify: could not notify %s: %s", redacted, error)
        return Delivery(redacted, ok=False, error=error)
    log.info("notify: notified %s", redacted)
    return Delivery(redacted, ok=True)


def _send(url: str, title: str, body: str, notify_type: str) -> bool:
    """Send through Apprise with bounded socket timeouts; whether it was delivered."""
    import apprise

    asset = apprise.AppriseAsset(secure_logging=True)
    service = apprise.Apprise.instantiate(url, asset=asset)
    if service is None:  # Apprise has logged why: unknown scheme, malformed URL
        return False
    service.socket_connect_timeout = min(service.socket_connect_timeout, TIMEOUT_SECONDS)
    service.socket_read_timeout = min(service.socket_read_timeout, TIMEOUT_SECONDS)
    sender = apprise.Apprise(asset=asset)
    sender.add(service)
    markdown = apprise.NotifyFormat.MARKDOWN
    return bool(sender.notify(body, title, notify_type=notify_type, body_format=markdown))


@contextmanager
def _masked_apprise_logs(secrets: Sequence[str]) -> Iterator[list[str]]:
    """Mask ``secrets`` in Apprise's log records; yield its warnings, masked."""
    scrub = _Scrub(secrets)
    loggers = [logging.getLogger(name) for name in _MASKED_LOGGERS]
    for logger in loggers:
        logger.addFilter(scrub)
    try:
        yield scrub.warnings
    finally:
        for logger in loggers:
            logger.removeFilter(scrub)


class _Scrub(logging.Filter):
    """Rewrites a record's message with secrets masked (also from other threads)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = secrets
        self.warnings: list[str] = []
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = _mask(record.getMessage(), self.secrets)
        except Exception:
            message = "(an Apprise log message that could not be formatted)"
        record.msg, record.args = message, None
        if record.levelno >= logging.WARNING:
            with self._lock:
                self.warnings.append(message)
        return True


def _secret_parts(url: str) -> list[str]:
    """The URL and its parts after the scheme, raw and decoded, longest first."""
    rest = _SCHEME.sub("", url.strip())
    parts = {url, url.strip(), rest}
    for piece in _URL_PARTS.split(rest):
        if len(piece) >= _MIN_SECRET_CHARS:
            parts.update({piece, unquote(piece), quote(unquote(piece), safe="")})
    return sorted((p for p in parts if p), key=len, reverse=True)


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
