"""``nbflow assemble``: the run folder from the pieces of steps that ran apart.

The record is finished by the runner's own code (``settle_record``): a step whose
need failed is ``skipped`` with the reason a local run gives, the run's status is
computed the same way, and the report is the same. A step with no piece and nothing
blocking it never ran (its job was cancelled, or its piece was not passed): it is
``cancelled``, and so is the run; so is an item of a ``foreach:`` step that no part
finished, and the steps after it are skipped. A step (or item) whose piece is lost
but which a later step's piece saw is recorded as that piece saw it
(engine/lost_pieces.py). The run ends when its last step ended.

Assembling a run again (a re-run of failed jobs) replaces the folder's notebooks
with this attempt's; a folder holding another run under the same id is refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from nbflow.engine.locks import workflow_lock
from nbflow.engine.lost_pieces import assembled_steps
from nbflow.engine.pieces import check_run_of, read_run_pieces
from nbflow.engine.runner import settle_record
from nbflow.errors import UsageError
from nbflow.manifest.model import Workflow
from nbflow.project import Project, project_of_manifest
from nbflow.report.notebook_changes import diff_with_previous
from nbflow.report.run_report import render_report
from nbflow.run_record import SEED_KEYS, RunRecord, parse_time
from nbflow.store import runs
from nbflow.store.pieces import copy_notebook, read_seed

MISSING = "no piece: its job did not run, or its piece was not passed to `nbflow assemble`"


def assemble_run(
    workflow: Workflow,
    pieces: Sequence[Path],
    *,
    run_id: str | None = None,
    project: Project | None = None,
) -> RunRecord:
    """Write ``runs/<workflow>/<run-id>/`` from the seed and pieces in ``pieces``."""
    project = project or project_of_manifest(workflow.manifest)
    seed = read_seed(pieces).record
    if run_id is not None and runs.check_run_id(run_id) != seed.run_id:
        raise UsageError(f"--run-id {run_id}: the seed in the pieces is run {seed.run_id}")
    check_run_of(workflow, seed)
    found = read_run_pieces(pieces, seed)
    folder = runs.run_dir(project.runs_dir, workflow.name, seed.run_id)
    _clear_earlier_attempt(folder, seed)
    for step_id, piece in found.items():
        if piece.notebook is not None:
            copy_notebook(piece.notebook, folder / f"{step_id}.ipynb")
        for item in piece.items:
            copy_notebook(item, folder / item.name)
    record = replace(seed, steps=assembled_steps(found, seed))
    with workflow_lock(project.runs_dir, workflow.name):
        record = settle_record(workflow, record, project, MISSING)
        return _end_with_last_step(folder, record)


def _clear_earlier_attempt(folder: Path, seed: RunRecord) -> None:
    """Make ``folder`` ready for this assemble: a folder holding an earlier attempt
    of the same run (the same seed: a re-run of failed jobs) loses its notebooks, so
    it ends holding this attempt's only; UsageError when it holds another run."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / runs.RECORD_FILE).is_file():
        return
    try:
        earlier = runs.read_record(folder).to_json()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{folder / runs.RECORD_FILE}: not a run record ({exc})") from None
    ours = seed.to_json()
    different = [k for k in SEED_KEYS if earlier[k] != ours[k]]
    if different:
        key = different[0]
        raise UsageError(
            f"{folder} holds another run under the id {seed.run_id} (its {key} is "
            f"{json.dumps(earlier[key])}, the seed's {json.dumps(ours[key])}); move it away "
            "or plan a new run"
        )
    for notebook in [*folder.glob("*.ipynb"), *folder.glob("*.html")]:
        notebook.unlink()


def _end_with_last_step(folder: Path, record: RunRecord) -> RunRecord:
    ends = [s.end for s in record.steps if s.end]
    if not ends:
        return record
    end = max(ends, key=parse_time)
    duration = round((parse_time(end) - parse_time(record.start)).total_seconds(), 3)
    record = replace(record, end=end, duration=duration)
    runs.write_record(folder, record)
    changes = diff_with_previous(folder.parent.parent, folder, record)
    runs.write_atomic(folder / runs.REPORT_FILE, render_report(record, notebook_changes=changes))
    return record
