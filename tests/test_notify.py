"""notify_run against a real HTTP receiver on 127.0.0.1 (Apprise's json:// service)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from nbflow import notify
from nbflow.cli import main
from nbflow.manifest.load import load_manifest
from nbflow.manifest.model import Workflow
from nbflow.notify import Delivery, notify_run, redact_url
from nbflow.run_record import RunRecord, RunStatus, StepError, StepRecord, StepStatus
from tests.helpers import Receiver, write_manifest, write_notebook

RUN_ID = "2026-11-23T000000Z-ab12"
CANARY = "CANARYt0ken5ecret"
HOOK = "${{ env.HOOK }}"
SECRET_HOOK = "${{ secrets.HOOK }}"


@pytest.fixture
def down_url() -> str:
    """A json:// URL of a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"json://127.0.0.1:{port}/hook"


# Workflows and records ------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project at ``tmp_path/proj``, made the current folder."""
    root = tmp_path / "proj"
    (root / "workflows").mkdir(parents=True)
    (root / "nbflow.yaml").write_text("runs_dir: runs\n", encoding="utf-8")
    monkeypatch.chdir(root)
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    return root


def finance_daily(
    root: Path, on_failure: str = "", on_success: str = "", secrets: str = "[]"
) -> Workflow:
    """Load workflows/finance-daily (steps extract, load) notifying these URLs."""
    folder = root / "workflows" / "finance-daily"
    write_notebook(folder / "extract.ipynb", "x = 1")
    write_notebook(folder / "load.ipynb", "x = 1")
    urls = {
        "on_failure": [on_failure] if on_failure else [],
        "on_success": [on_success] if on_success else [],
    }
    path = write_manifest(
        folder,
        f"""
        name: finance-daily
        secrets: {secrets}
        steps:
          - id: extract
            notebook: extract.ipynb
          - id: load
            notebook: load.ipynb
        notify: {json.dumps(urls)}
        """,
    )
    return load_manifest(path)


def record(status: RunStatus) -> RunRecord:
    """A run of finance-daily: extract succeeded; load has ``status``'s outcome."""
    error = StepError("ValueError", "bad row 7 in ledger.csv", cell=3, traceback="...")
    load = {
        RunStatus.FAILED: StepRecord(
            "load", status=StepStatus.FAILED, notebook="load.ipynb", error=error
        ),
        RunStatus.CANCELLED: StepRecord(
            "load",
            status=StepStatus.CANCELLED,
            notebook="load.ipynb",
            reason="the run was interrupted",
        ),
        RunStatus.SUCCEEDED: StepRecord("load", status=StepStatus.SUCCEEDED, notebook="load.ipynb"),
    }[status]
    extract = StepRecord("extract", status=StepStatus.SUCCEEDED, notebook="extract.ipynb")
    return RunRecord(
        workflow="finance-daily",
        run_id=RUN_ID,
        status=status,
        trigger="schedule",
        start="2026-11-23T00:00:00.000Z",
        steps=(extract, load),
    )


# What is sent --------------------------------------------------------------------------


def test_failed_run_sends_the_failed_step_its_error_and_notebook(
    root: Path, receiver: Receiver
) -> None:
    workflow = finance_daily(root, on_failure=HOOK)

    deliveries = notify_run(workflow, record(RunStatus.FAILED), env={"HOOK": receiver.url()})

    assert deliveries == [Delivery("json://***", ok=True)]
    [(path, payload)] = receiver.posts
    run_dir = root / "runs" / "finance-daily" / RUN_ID
    assert path == "/hook"
    assert payload["type"] == "failure"
    assert payload["title"] == "nbflow: finance-daily failed (1/2 steps)"
    assert payload["message"] == (
        f"Workflow `finance-daily` failed · run `{RUN_ID}` · trigger `schedule`\n\n"
        "Step `load` failed at cell index 3: `ValueError: bad row 7 in ledger.csv`  \n"
        f"Notebook: {run_dir / 'load.ipynb'}\n\n"
        f"Report: {run_dir / 'README.md'}"
    )


def test_on_actions_links_point_at_github(root: Path, receiver: Receiver) -> None:
    workflow = finance_daily(root, on_failure=HOOK)
    env = {
        "HOOK": receiver.url(),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/books",
        "GITHUB_SHA": "0123abcd",
        "GITHUB_RUN_ID": "4242",
    }

    notify_run(workflow, record(RunStatus.FAILED), env=env)

    message = receiver.posts[0][1]["message"]
    blob = f"https://github.com/acme/books/blob/0123abcd/runs/finance-daily/{RUN_ID}"
    assert f"Notebook: {blob}/load.ipynb\n" in message
    assert message.endswith(
        f"Actions run: https://github.com/acme/books/actions/runs/4242\nReport: {blob}/README.md"
    )


def test_notebook_url_can_be_given(root: Path, receiver: Receiver) -> None:
    workflow = finance_daily(root, on_failure=HOOK)

    notify_run(
        workflow,
        record(RunStatus.FAILED),
        env={"HOOK": receiver.url()},
        notebook_url=lambda path: f"https://example.org/{path}",
    )

    assert "Notebook: https://example.org/load.ipynb" in receiver.posts[0][1]["message"]


@pytest.mark.parametrize(
    ("status", "path", "kind"),
    [
        (RunStatus.FAILED, "/failure", "failure"),
        (RunStatus.CANCELLED, "/failure", "warning"),
        (RunStatus.SUCCEEDED, "/success", "success"),
    ],
)
def test_the_run_status_picks_the_urls(
    root: Path, receiver: Receiver, status: RunStatus, path: str, kind: str
) -> None:
    workflow = finance_daily(
        root, on_failure="${{ env.FAIL_HOOK }}", on_success="${{ env.OK_HOOK }}"
    )
    env = {"FAIL_HOOK": receiver.url("/failure"), "OK_HOOK": receiver.url("/success")}

    notify_run(workflow, record(status), env=env)

    assert [(p, body["type"]) for p, body in receiver.posts] == [(path, kind)]
    done = 2 if status == RunStatus.SUCCEEDED else 1
    title = f"nbflow: finance-daily {status.value} ({done}/2 steps)"
    assert receiver.posts[0][1]["title"] == title


def test_a_cancelled_step_is_named_with_its_reason(root: Path, receiver: Receiver) -> None:
    workflow = finance_daily(root, on_failure=HOOK)

    notify_run(workflow, record(RunStatus.CANCELLED), env={"HOOK": receiver.url()})

    assert "Step `load` cancelled: the run was interrupted  \n" in receiver.posts[0][1]["message"]


def test_a_run_without_urls_for_its_status_sends_nothing(root: Path, receiver: Receiver) -> None:
    workflow = finance_daily(root, on_failure=HOOK)

    assert notify_run(workflow, record(RunStatus.SUCCEEDED), env={"HOOK": receiver.url()}) == []
    assert receiver.posts == []


# Unset variables and secrets ------------------------------------------------------------


@pytest.mark.parametrize("env", [{}, {"HOOK": ""}], ids=["unset", "empty"])
def test_an_unset_variable_skips_the_url_quietly(
    root: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture, env: dict[str, str]
) -> None:
    workflow = finance_daily(root, on_failure=HOOK)
    caplog.set_level(logging.INFO)

    assert notify_run(workflow, record(RunStatus.FAILED), env=env) == []

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "notify: HOOK is not set; not notifying")
    ]
    assert receiver.posts == []


def test_a_declared_secret_resolves_and_its_token_never_reaches_the_log(
    root: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    workflow = finance_daily(root, on_failure=SECRET_HOOK, secrets="[HOOK]")
    caplog.set_level(logging.DEBUG)  # Apprise and urllib3 log URLs at DEBUG

    deliveries = notify_run(
        workflow, record(RunStatus.FAILED), env={"HOOK": receiver.url(f"/hook/{CANARY}")}
    )

    assert deliveries == [Delivery("json://***", ok=True)]
    assert [path for path, _ in receiver.posts] == [f"/hook/{CANARY}"]
    assert "notify: notified json://***" in caplog.text
    assert CANARY not in caplog.text


def test_an_undeclared_secret_is_not_read(
    root: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    declared = finance_daily(root, on_failure=SECRET_HOOK, secrets="[HOOK]")
    workflow = replace(declared, secrets=())  # the loader rejects it; a built Workflow may not

    assert notify_run(workflow, record(RunStatus.FAILED), env={"HOOK": receiver.url()}) == []

    assert receiver.posts == []
    assert caplog.messages == [
        "notify: secret HOOK is not declared under `secrets:`; not notifying"
    ]


# Failed deliveries ----------------------------------------------------------------------


def test_a_receiver_that_is_down_is_a_warning(
    root: Path, down_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    workflow = finance_daily(root, on_failure=SECRET_HOOK, secrets="[HOOK]")
    caplog.set_level(logging.DEBUG)

    [delivery] = notify_run(
        workflow, record(RunStatus.FAILED), env={"HOOK": f"{down_url}/{CANARY}"}
    )

    assert (delivery.url_redacted, delivery.ok) == ("json://***", False)
    assert "Connection error" in delivery.error  # Apprise's wording
    warnings = [r.getMessage() for r in caplog.records if r.name == "nbflow.notify"]
    assert warnings == [f"notify: could not notify json://***: {delivery.error}"]
    assert CANARY not in caplog.text


def test_a_receiver_answering_500_is_a_warning(
    root: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    workflow = finance_daily(root, on_failure=HOOK)
    receiver.status = 500

    [delivery] = notify_run(workflow, record(RunStatus.FAILED), env={"HOOK": receiver.url()})

    assert not delivery.ok
    assert "error=500" in delivery.error
    assert "WARNING  nbflow.notify:" in caplog.text
    assert "notify: could not notify json://***: " in caplog.text


def test_an_unusable_url_is_a_warning_without_its_text(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workflow = finance_daily(root, on_failure=HOOK)

    [delivery] = notify_run(
        workflow, record(RunStatus.FAILED), env={"HOOK": f"nosuchservice://{CANARY}@host"}
    )

    assert (delivery.url_redacted, delivery.ok) == ("nosuchservice://***", False)
    assert "could not notify nosuchservice://***" in caplog.text
    assert CANARY not in caplog.text


def test_a_slow_receiver_is_cut_off(
    root: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = finance_daily(root, on_failure=HOOK)
    monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 0.5)
    receiver.delay = 8.0

    started = time.monotonic()
    [delivery] = notify_run(workflow, record(RunStatus.FAILED), env={"HOOK": receiver.url()})

    assert not delivery.ok
    assert time.monotonic() - started < receiver.delay  # gave up before the answer came


def test_an_exception_inside_apprise_is_a_failed_delivery(
    root: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import apprise

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError(f"plugin crashed on {receiver.url()}")

    monkeypatch.setattr(apprise.Apprise, "notify", broken)
    workflow = finance_daily(root, on_failure=HOOK)

    [delivery] = notify_run(workflow, record(RunStatus.FAILED), env={"HOOK": receiver.url()})

    assert delivery == Delivery("json://***", ok=False, error="RuntimeError: plugin crashed on ***")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("json://127.0.0.1:8080/path", "json://***"),
        ("Discord://1234/s3cret", "discord://***"),
        ("  mailtos://user:pass@example.com", "mailtos://***"),
        ("no scheme at all", "***"),
        ("", "***"),
    ],
)
def test_redact_url_keeps_only_the_scheme(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


# The command line ---------------------------------------------------------------------------


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    """cli.main replaces the root logger's handlers; put them back afterwards."""
    root_logger = logging.getLogger()
    handlers, level = root_logger.handlers[:], root_logger.level
    yield
    root_logger.handlers[:] = handlers
    root_logger.setLevel(level)


def failing_workflow(root: Path) -> None:
    folder = root / "workflows" / "ledger"
    write_notebook(folder / "check.ipynb", "limit = 3", ['raise ValueError("bad row 7")'])
    write_manifest(
        folder,
        """
        name: ledger
        steps:
          - id: check
            notebook: check.ipynb
        notify:
          on_failure: ["${{ env.HOOK }}"]
        """,
    )


@pytest.mark.usefixtures("_restore_logging")
def test_cli_run_exits_1_when_the_receiver_is_down(
    root: Path, down_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failing_workflow(root)
    monkeypatch.setenv("HOOK", down_url)

    assert main(["run", "ledger"]) == 1

    err = capsys.readouterr().err
    assert "WARNING nbflow.notify: notify: could not notify json://***: " in err
    assert down_url not in err


@pytest.mark.usefixtures("_restore_logging")
def test_cli_run_notifies_once(
    root: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing_workflow(root)
    monkeypatch.setenv("HOOK", receiver.url())

    assert main(["run", "ledger"]) == 1

    [(path, payload)] = receiver.posts
    assert payload["title"] == "nbflow: ledger failed (0/1 steps)"
    assert "Step `check` failed at cell index 1: `ValueError: bad row 7`" in payload["message"]
    run_dir = Path(capsys.readouterr().out.strip())  # `nbflow run` prints the run folder
    assert f"Notebook: {run_dir / 'check.ipynb'}\n" in payload["message"]
