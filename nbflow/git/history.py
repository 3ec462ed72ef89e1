"""Run history: the run folders in the working tree merged with the runs committed
to Git, on the current branch and on the runs branch, read from Git objects without
a checkout; a run present in both is taken from the working tree.

The seam between the run folder layout (``store/runs.py``, which knows nothing of
Git) and Git (``git/commands.py``): ``nbflow runs`` and ``nbflow show`` read here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Container, Iterator, Sequence
from pathlib import Path

from nbflow.errors import UsageError
from nbflow.git.commands import DEFAULT_REMOTE, Git
from nbflow.project import RUNS_DIR, Project
from nbflow.run_record import RunRecord
from nbflow.store.runs import (
    RECORD_FILE,
    RUN_ID_PATTERN,
    check_run_id,
    find_run,
    iter_run_dirs,
    read_record,
)

log = logging.getLogger(__name__)


def list_runs(
    project: Project, workflow: str | None = None, branches: Sequence[str] | None = None
) -> list[RunRecord]:
    """Runs in the working tree and committed on ``branches`` (default: HEAD and the
    runs branch), one record per run id, by workflow then time. Given ``branches``,
    only runs committed there are listed."""
    found: dict[str, RunRecord] = {}
    if branches is None:
        for folder in iter_run_dirs(project.runs_dir, workflow):
            record = read_record(folder)
            found[record.run_id] = record
        branches = history_branches(project.root, project.commit.runs_branch)
    for branch in branches:
        committed = iter_committed_records(
            project.root, branch, workflow, project.runs_dir, known=found.keys()
        )
        for record in committed:
            found.setdefault(record.run_id, record)
    return sorted(found.values(), key=lambda r: (r.workflow, r.start, r.run_id))


def find_record(project: Project, run_id: str, branches: Sequence[str] | None = None) -> RunRecord:
    """The record of run ``run_id``: from the working tree, else from Git."""
    check_run_id(run_id)
    if branches is None:
        try:
            return read_record(find_run(project.runs_dir, run_id))
        except UsageError:
            pass
    for record in list_runs(project, branches=branches):
        if record.run_id == run_id:
            return record
    raise UsageError(
        f"no run '{run_id}' under {project.runs_dir} or committed to Git; "
        "list runs with `nbflow runs`"
    )


def iter_committed_records(
    repo_root: Path,
    branch: str,
    workflow: str | None = None,
    runs_dir: Path | None = None,
    known: Container[str] = (),
) -> Iterator[RunRecord]:
    """Run records committed on ``branch`` under ``runs_dir`` (default
    ``<repo_root>/runs``), read from Git objects (no checkout) by workflow then run
    id, those of runs in ``known`` left unread; nothing when the branch or the
    folder does not exist."""
    git = Git.find(repo_root)
    if git is None:
        return
    folder = git.relative(runs_dir or Path(repo_root) / RUNS_DIR)
    prefix = "" if folder == "." else f"{folder}/"
    wanted = []
    for path, data in git.files_named(
        branch, f"{prefix}{workflow}" if workflow else folder, RECORD_FILE
    ):
        parts = path.removeprefix(prefix).split("/")
        if len(parts) == 3 and RUN_ID_PATTERN.match(parts[1]) and parts[1] not in known:
            wanted.append((parts[0], parts[1], path, data))
    for _, _, path, data in sorted(wanted):
        record = _record_from_blob(path, data)
        if record is not None:
            yield record


def history_branches(repo_root: Path, runs_branch: str) -> list[str]:
    """Where committed runs are read from: HEAD, and the runs branch (local, else its
    remote-tracking copy) when it exists."""
    git = Git.find(repo_root)
    if git is None:
        return []
    branches = ["HEAD"]
    for candidate in (runs_branch, f"{DEFAULT_REMOTE}/{runs_branch}"):
        if git.rev(candidate):
            branches.append(candidate)
            break
    return branches


def _record_from_blob(path: str, data: bytes) -> RunRecord | None:
    try:
        return RunRecord.from_json(json.loads(data.decode("utf-8")))
    except (KeyError, ValueError, TypeError) as exc:
        log.debug("%s: unreadable committed run record: %s", path, exc)
        return None
