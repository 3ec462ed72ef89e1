"""Run history: the run folders in the working tree merged with the runs committed
to Git, on the current branch and on the runs branch, read from Git objects without
a checkout; a run present in both is taken from the working tree.

The seam between the run folder layout (``store/runs.py``, which knows nothing of
Git) and Git (``git/commands.py``): ``nbflow runs`` and ``nbflow show`` read here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Container, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from nbflow.errors import UsageError
from nbflow.git.commands import DEFAULT_REMOTE, Git
from nbflow.project import RUNS_DIR, Project
from nbflow.run_record import RunRecord
from nbflow.run_summary import RunSummary
from nbflow.store.runs import (
    RECORD_FILE,
    RUN_ID_PATTERN,
    check_run_id,
    find_run,
    iter_run_dirs,
    read_json,
    read_record,
)

log = logging.getLogger(__name__)

Run = TypeVar("Run", RunRecord, RunSummary)


def list_runs(
    project: Project, workflow: str | None = None, branches: Sequence[str] | None = None
) -> list[RunRecord]:
    """Runs in the working tree and committed on ``branches`` (default: HEAD and the
    runs branch), one record per run id, by workflow then time. Given ``branches``,
    only runs committed there are listed."""
    return _listing(project, workflow, branches, RunRecord.from_json)


def list_summaries(
    project: Project, workflow: str | None = None, branches: Sequence[str] | None = None
) -> list[RunSummary]:
    """The runs :func:`list_runs` lists, as summaries (no step records built): what
    ``nbflow runs`` and the catch-up/backfill scan need of a long history."""
    return _listing(project, workflow, branches, RunSummary.from_json)


def _listing(
    project: Project,
    workflow: str | None,
    branches: Sequence[str] | None,
    parse: Callable[[dict[str, Any]], Run],
) -> list[Run]:
    found: dict[str, Run] = {}
    if branches is None:
        for folder in iter_run_dirs(project.runs_dir, workflow):
            run = parse(read_json(folder))
            found[run.run_id] = run
        branches = history_branches(project.root, project.commit.runs_branch)
    for branch in branches:
        committed = iter_committed_records(
            project.root, branch, workflow, project.runs_dir, known=found.keys(), parse=parse
        )
        for run in committed:
            found.setdefault(run.run_id, run)
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
    parse: Callable[[dict[str, Any]], Run] = RunRecord.from_json,  # type: ignore[assignment]
) -> Iterator[Run]:
    """Run records (or what ``parse`` makes of them) committed on ``branch`` under
    ``runs_dir`` (default ``<repo_root>/runs``), read from Git objects (no checkout) by
    workflow then run id, those of runs in ``known`` left unread; nothing when the
    branch or the folder does not exist."""
    git = Git.find(repo_root)
    if git is None:
        return
    folder = git.relative(runs_dir or Path(repo_root) / RUNS_DIR)
    prefix = "" if folder == "." else f"{folder}/"

    def wanted(path: str) -> bool:
        parts = path.removeprefix(prefix).split("/")
        return len(parts) == 3 and bool(RUN_ID_PATTERN.match(parts[1])) and parts[1] not in known

    where = f"{prefix}{workflow}" if workflow else folder
    found = git.files_named(branch, where, RECORD_FILE, wanted)
    for path, data in sorted(found, key=lambda file: file[0].removeprefix(prefix).split("/")):
        run = _from_blob(path, data, parse)
        if run is not None:
            yield run


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


def _from_blob(path: str, data: bytes, parse: Callable[[dict[str, Any]], Run]) -> Run | None:
    try:
        return parse(json.loads(data.decode("utf-8")))
    except (KeyError, ValueError, TypeError) as exc:
        log.debug("%s: unreadable committed run record: %s", path, exc)
        return None
