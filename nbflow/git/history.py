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
from nbflow.git.summary_cache import Summaries
from nbflow.project import RUNS_DIR, Project
from nbflow.run_record import RunRecord
from nbflow.run_summary import RunSummary
from nbflow.store.runs import (
    RECORD_FILE,
    RUN_ID_PATTERN,
    check_run_id,
    find_run,
    read_json,
    read_record,
    run_folders,
)

log = logging.getLogger(__name__)

Run = TypeVar("Run", RunRecord, RunSummary)
Wanted = Callable[[str], bool]


def list_runs(
    project: Project, workflow: str | None = None, branches: Sequence[str] | None = None
) -> list[RunRecord]:
    """Runs in the working tree and committed on ``branches`` (default: HEAD and the
    runs branch), one record per run id, by workflow then time. Given ``branches``,
    only runs committed there are listed. A damaged record in the working tree is
    named in a warning and left out."""
    git = Git.find(project.root)

    def committed(rev: str, where: str, wanted: Wanted) -> list[tuple[str, RunRecord | None]]:
        assert git is not None
        found = git.files_named(rev, where, RECORD_FILE, wanted)
        return [(path, _from_blob(path, data, RunRecord.from_json)) for path, data in found]

    return _listing(project, git, workflow, branches, read_record, committed)


def list_summaries(
    project: Project, workflow: str | None = None, branches: Sequence[str] | None = None
) -> list[RunSummary]:
    """The runs :func:`list_runs` lists, as summaries (no step records built), read
    through the summary cache (git/summary_cache.py): what ``nbflow runs`` and the
    catch-up/backfill scan need of a long history."""
    git = Git.find(project.root)
    if git is None:
        return _listing(project, git, workflow, branches, _summary_of, _nothing)
    summaries = Summaries(git)
    if branches is None:
        summaries.track(project.runs_dir, workflow)
    try:
        return _listing(project, git, workflow, branches, summaries.of_folder, summaries.committed)
    finally:
        summaries.save()


def _listing(
    project: Project,
    git: Git | None,
    workflow: str | None,
    branches: Sequence[str] | None,
    from_folder: Callable[[Path], Run],
    committed: Callable[[str, str, Wanted], list[tuple[str, Run | None]]],
) -> list[Run]:
    found: dict[str, Run] = {}
    if branches is None:
        for folder in run_folders(project.runs_dir, workflow):
            try:
                run = from_folder(folder)
            except FileNotFoundError:
                continue  # a folder without a record
            except UNREADABLE as exc:
                log.warning("%s", unreadable(folder, exc, "left out of the list"))
                continue
            found[run.run_id] = run
        branches = history_branches(project.root, project.commit.runs_branch)
    if git is not None:
        where, wanted = _where(git, project.runs_dir, workflow, found.keys())
        for branch in branches:
            for _, read in sorted(committed(branch, where, wanted), key=_by_workflow_and_id):
                if read is not None:
                    found.setdefault(read.run_id, read)
    return sorted(found.values(), key=lambda r: (r.workflow, r.start, r.run_id))


UNREADABLE = (OSError, KeyError, ValueError, TypeError, AttributeError)


def unreadable(folder: Path, exc: Exception, what: str) -> str:
    """The message for the damaged ``run.json`` of ``folder``: the file, the error,
    and how to fix it."""
    file = folder / RECORD_FILE
    return (
        f"{file}: unreadable run record ({type(exc).__name__}: {exc}), {what}; fix its "
        f"JSON, or restore it with `git checkout -- {file}` if it was committed, or delete "
        f"the folder {folder}"
    )


def find_record(project: Project, run_id: str, branches: Sequence[str] | None = None) -> RunRecord:
    """The record of run ``run_id``: from the working tree, else from Git."""
    check_run_id(run_id)
    if branches is None:
        try:
            folder = find_run(project.runs_dir, run_id)
        except UsageError:
            pass
        else:
            try:
                return read_record(folder)
            except UNREADABLE as exc:
                raise UsageError(unreadable(folder, exc, "cannot show it")) from None
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
    where, wanted = _where(git, runs_dir or Path(repo_root) / RUNS_DIR, workflow, known)
    found = [
        (p, _from_blob(p, d, RunRecord.from_json))
        for p, d in git.files_named(branch, where, RECORD_FILE, wanted)
    ]
    for _, record in sorted(found, key=_by_workflow_and_id):
        if record is not None:
            yield record


def _where(
    git: Git, runs_dir: Path, workflow: str | None, known: Container[str]
) -> tuple[str, Wanted]:
    """Where in a tree the run records of ``workflow`` (or all) are, and which paths
    there are records of runs not in ``known``."""
    folder = git.relative(runs_dir)
    prefix = "" if folder == "." else f"{folder}/"

    def wanted(path: str) -> bool:
        parts = path.removeprefix(prefix).split("/")
        return len(parts) == 3 and bool(RUN_ID_PATTERN.match(parts[1])) and parts[1] not in known

    return (f"{prefix}{workflow}" if workflow else folder), wanted


def _by_workflow_and_id(found: tuple[str, object]) -> list[str]:
    return found[0].split("/")[-3:]


def _summary_of(folder: Path) -> RunSummary:
    return RunSummary.from_json(read_json(folder))


def _nothing(rev: str, where: str, wanted: Wanted) -> list[tuple[str, RunSummary | None]]:
    return []


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
