"""The run folder layout ``runs/<workflow>/<run-id>/`` and ``run.json``.

Run ids sort by time (``2026-11-23T000000Z-ab12``) so listing a folder lists runs
in order. Records and reports are written atomically (temporary file, then
rename): a crash never leaves half a JSON file.

This module knows the working tree only; ``git/history.py`` merges these run
folders with the runs committed to Git (``nbflow runs``, ``nbflow show``).
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbflow.errors import UsageError, WriteError
from nbflow.run_record import RunRecord, RunStatus, StepRecord
from nbflow.store.record_text import record_text

if TYPE_CHECKING:
    from nbflow.run_summary import RunSummary

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


def written_files(record: RunRecord) -> list[str]:
    """The files nbflow writes in a run folder, by name: the run record, the report,
    and each step's and each item's executed notebook and its HTML copy (``report:``).
    Only these are committed (issue 10, item 1): whatever else a notebook writes into
    its run folder is not."""
    executions = [*record.steps, *(i for s in record.steps for i in s.items)]
    notebooks = [e.notebook for e in executions] + [e.html for e in executions]
    safe = [n for n in notebooks if n and n == Path(n).name and not n.startswith(".")]
    return [RECORD_FILE, REPORT_FILE, *sorted(set(safe))]


def item_notebook(step_id: str, index: int) -> str:
    """The executed notebook of item ``index`` of a foreach step, relative to the run
    folder: step ids hold no dot, so the name is unambiguous (engine/sweep.py)."""
    return f"{step_id}.{index}.ipynb"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename. The file gets
    the mode the user's umask gives new files (as git does), not ``mkstemp``'s 0600:
    in a shared checkout others read the run's record. WriteError (naming ``path``)
    when it cannot be written: a full disk, a quota, a read-only folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(path)
    except OSError as exc:
        raise cannot_write(path, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_write(path, exc) from exc
        raise


def cannot_write(path: Path, exc: OSError) -> WriteError:
    """The WriteError of ``exc``, raised writing ``path``."""
    return WriteError(f"cannot write {path}: {exc.strerror or exc}")


def is_out_of_room(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path``, opened for writing with mode 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # another writer picked the same name: pick again
            continue


def write_record(run_dir: Path, record: RunRecord, text: str | None = None) -> None:
    """Write ``record`` as ``run_dir``'s run.json, atomically; ``text`` is its text when
    already made (store/record_text.py: a running run's recorder keeps its pieces)."""
    write_atomic(run_dir / RECORD_FILE, record_text(record) if text is None else text)


def read_record(run_dir: Path) -> RunRecord:
    return RunRecord.from_json(read_json(run_dir))


def read_json(run_dir: Path) -> Any:
    """The parsed ``run.json`` of ``run_dir``."""
    with (run_dir / RECORD_FILE).open(encoding="utf-8") as handle:
        return json.load(handle)


def run_dir(runs_dir: Path, workflow: str, run_id: str) -> Path:
    return runs_dir / workflow / check_run_id(run_id)


def iter_run_dirs(runs_dir: Path, workflow: str | None = None) -> Iterator[Path]:
    """Run folders, oldest first, of one workflow or all."""
    return (f for f in run_folders(runs_dir, workflow) if (f / RECORD_FILE).is_file())


def run_dirs_newest_first(runs_dir: Path, workflow: str) -> Iterator[Path]:
    """The folders named like runs of ``workflow``, newest first, not checked for a
    record: a reader that stops at the first few (the cache, the latest results) then
    looks at those only, not at every folder of a long history — runs started in the
    same second are put in order only when the reader reaches that second. A folder
    without a readable record is the reader's to skip."""
    folder = runs_dir / workflow
    names = sorted(_run_names(folder), reverse=True)
    for _, same_second in itertools.groupby(names, key=_second_of):
        yield from reversed(_in_start_order_within_a_second([folder / n for n in same_second]))


def run_folders(runs_dir: Path, workflow: str | None = None) -> list[Path]:
    """The folders named like run ids, oldest first, of one workflow or all, not
    checked for a record (a folder without one is the reader's to skip)."""
    workflows = [runs_dir / workflow] if workflow else sorted(p for p in runs_dir.glob("*"))
    found: list[Path] = []
    for folder in workflows:
        found += _in_start_order([folder / name for name in _run_names(folder)])
    return found


def _run_names(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if RUN_ID_PATTERN.match(e.name)]
    except (NotADirectoryError, FileNotFoundError):
        return []


def _in_start_order(folders: list[Path]) -> list[Path]:
    """Run folders oldest first: by the second in their id, then, for runs started in
    the same second (ids differing only by a random suffix), by their record's start
    (only those records are read)."""
    ordered: list[Path] = []
    by_name = sorted(folders, key=lambda f: f.name)
    for _, same_second in itertools.groupby(by_name, key=lambda f: _second_of(f.name)):
        ordered += _in_start_order_within_a_second(list(same_second))
    return ordered


def _in_start_order_within_a_second(folders: list[Path]) -> list[Path]:
    """Folders of runs whose ids name the same second, oldest first: by the start
    their records give, then by id."""
    if len(folders) < 2:
        return folders
    return sorted(folders, key=lambda folder: (_start_of(folder), folder.name))


def _second_of(name: str) -> str:
    return name.rpartition("-")[0]


def _start_of(folder: Path) -> str:
    """The start a run's record gives (ISO 8601 in UTC, milliseconds: sorts as text),
    "" for an unreadable one; its steps are not built into records for this."""
    try:
        start = read_json(folder)["start"]
    except (KeyError, TypeError, ValueError, OSError):
        return ""
    return start if isinstance(start, str) else ""


def find_run(runs_dir: Path, run_id: str) -> Path:
    """The folder of run ``run_id`` (any workflow); UsageError when unknown."""
    check_run_id(run_id)
    for folder in runs_dir.glob(f"*/{run_id}"):
        if (folder / RECORD_FILE).is_file():
            return folder
    raise UsageError(f"no run '{run_id}' under {runs_dir}; list runs with `nbflow runs`")


def latest_run(runs_dir: Path, workflow: str | None = None) -> Path:
    """The folder of the newest run (of ``workflow``, or of any); UsageError when none."""
    folders = list(iter_run_dirs(runs_dir, workflow))
    if not folders:
        of = f" of {workflow}" if workflow else ""
        raise UsageError(f"no runs{of} under {runs_dir}; start one with `nbflow run WORKFLOW`")
    return _in_start_order(folders)[-1]  # of all workflows, the newest


def records_newest_first(runs_dir: Path, workflow: str) -> Iterator[RunRecord]:
    """The readable records of ``workflow``, latest-started first (in the order of
    ``iter_run_dirs``, reversed), each read when it is reached."""
    for folder in run_dirs_newest_first(runs_dir, workflow):
        try:
            yield read_record(folder)
        except (KeyError, TypeError, ValueError, OSError):
            continue


def latest_outputs(
    runs_dir: Path, workflow: str, step_ids: Iterable[str]
) -> dict[str, tuple[str, dict[str, object]]]:
    """For each of ``step_ids``, the latest-started run where it succeeded or was
    cached: that run's id and the step's outputs (a step no run has is left out)."""
    found = latest_results(runs_dir, workflow, step_ids)
    return {step_id: (run_id, dict(step.outputs)) for step_id, (run_id, step) in found.items()}


def latest_results(
    runs_dir: Path, workflow: str, step_ids: Iterable[str]
) -> dict[str, tuple[str, StepRecord]]:
    """For each of ``step_ids``, the latest-started run where it succeeded or was
    cached: that run's id and the step's record (a step no run has is left out).
    Records are read newest first, only until every step is found."""
    wanted, found = set(step_ids), {}
    for record in records_newest_first(runs_dir, workflow):
        if not wanted:
            break
        for step in record.steps:
            if step.id in wanted and step.status.is_done:
                found[step.id] = (record.run_id, step)
                wanted.discard(step.id)
    return found


def previous_record(runs_dir: Path, record: RunRecord) -> RunRecord | None:
    """The latest succeeded run of the same workflow that started before ``record``:
    what a pull request compares outputs with."""
    for other in records_newest_first(runs_dir, record.workflow):
        is_earlier = other.run_id != record.run_id and other.start < record.start
        if is_earlier and other.status == RunStatus.SUCCEEDED:
            return other
    return None


def is_interrupted(record: RunRecord | RunSummary) -> bool:
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
