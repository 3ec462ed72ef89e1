"""The run folder layout ``runs/<workflow>/<run-id>/`` and ``run.json``.

Run ids sort by time (``2026-11-23T000000Z-ab12``) so listing a folder lists runs
in order. Records and reports are written atomically (temporary file, then
rename): a crash never leaves half a JSON file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from nbflow.errors import UsageError
from nbflow.run_record import RunRecord, RunStatus

RECORD_FILE = "run.json"
REPORT_FILE = "README.md"
RUN_ID_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z-[0-9a-f]{4}$")


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now.astimezone(UTC):%Y-%m-%dT%H%M%SZ}-{secrets.token_hex(2)}"


def check_run_id(run_id: str) -> str:
    if not RUN_ID_PATTERN.match(run_id):
        raise UsageError(
            f"invalid run id '{run_id}': expected the form 2026-11-23T000000Z-ab12 "
            "(see `nbflow runs`)"
        )
    return run_id


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(run_dir: Path, record: RunRecord) -> None:
    text = json.dumps(record.to_json(), indent=2, ensure_ascii=False, sort_keys=False)
    write_atomic(run_dir / RECORD_FILE, text + "\n")


def read_record(run_dir: Path) -> RunRecord:
    with (run_dir / RECORD_FILE).open(encoding="utf-8") as handle:
        return RunRecord.from_json(json.load(handle))


def run_dir(runs_dir: Path, workflow: str, run_id: str) -> Path:
    return runs_dir / workflow / check_run_id(run_id)


def iter_run_dirs(runs_dir: Path, workflow: str | None = None) -> Iterator[Path]:
    """Run folders, oldest first, of one workflow or all."""
    workflows = [runs_dir / workflow] if workflow else sorted(p for p in runs_dir.glob("*"))
    for folder in workflows:
        if folder.is_dir():
            for run in sorted(folder.iterdir()):
                if RUN_ID_PATTERN.match(run.name) and (run / RECORD_FILE).is_file():
                    yield run


def find_run(runs_dir: Path, run_id: str) -> Path:
    """The folder of run ``run_id`` (any workflow); UsageError when unknown."""
    check_run_id(run_id)
    for folder in runs_dir.glob(f"*/{run_id}"):
        if (folder / RECORD_FILE).is_file():
            return folder
    raise UsageError(f"no run '{run_id}' under {runs_dir}; list runs with `nbflow runs`")


def latest_outputs(runs_dir: Path, workflow: str, step_id: str) -> dict[str, object] | None:
    """Outputs of ``step_id`` in the newest run where it succeeded (or was cached), or None."""
    for folder in reversed(list(iter_run_dirs(runs_dir, workflow))):
        try:
            step = read_record(folder).step(step_id)
        except (KeyError, ValueError, OSError):
            continue
        if step.status.is_done:
            return dict(step.outputs)
    return None


def is_interrupted(record: RunRecord) -> bool:
    """A record left ``running`` by a process that no longer exists."""
    return record.status == RunStatus.RUNNING and not _pid_alive(record.pid)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
