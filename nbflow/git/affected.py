"""The workflows and steps a range of commits affects: Git + manifests + run history.

The diff (changed paths, the manifest at BASE and at HEAD) comes from Git, so
uncommitted edits never count; the step graph, notebooks and ``inputs:`` come from
the manifest as checked out, which is what ``nbflow run --changed`` runs. Files
under the project's ``runs/`` never count: runs never trigger runs. A workflow
whose manifest is not committed at HEAD (deleted, or not committed yet) is
ignored. The deciding rules are in the pure ``changes.py``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.errors import NbflowError
from nbflow.git.changes import select_steps, touched_steps
from nbflow.manifest.model import Step, Workflow
from nbflow.project import Project

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Affected:
    """One affected workflow: what to run and why."""

    workflow: Workflow
    steps: tuple[str, ...]  # to run, in plan order
    touched: Mapping[str, str]  # step id → the reason it is touched

    def to_json(self, project: Project) -> dict[str, Any]:
        return {
            "workflow": self.workflow.name,
            "manifest": project.relative(self.workflow.manifest),
            "steps": list(self.steps),
            "touched": dict(self.touched),
        }


def affected(
    project: Project, revisions: str, given: Callable[[Workflow], Mapping[str, Any]] | None = None
) -> list[Affected]:
    """The workflows of ``project`` that the commits ``BASE..HEAD`` affect, with the
    steps to run (see ``changes.py``); unaffected workflows are left out. ``given``:
    a workflow's parameters from the command line (its files are looked for with
    them)."""
    from nbflow.git import lookups
    from nbflow.manifest.load import find_manifests, load_manifest

    base, head = lookups.revision_range(project.root, revisions)
    top = lookups.work_tree(project.root)
    runs = _relative(project.runs_dir, top) + "/"
    changed = [p for p in lookups.changed_paths(project.root, base, head) if not p.startswith(runs)]
    result = []
    for manifest in find_manifests(project.root):
        name = _relative(manifest, top)
        after = _parse(lookups.file_at(project.root, head, name))
        if after is None:
            continue
        before = _parse(lookups.file_at(project.root, base, name))
        workflow = load_manifest(manifest)
        params = given(workflow) if given else {}
        folder = _relative(manifest.parent, top)
        if found := _affected(project, workflow, folder, changed, before, after, params):
            result.append(found)
    return result


def _affected(
    project: Project,
    workflow: Workflow,
    folder: str,
    changed: list[str],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    given: Mapping[str, Any],
) -> Affected | None:
    from nbflow.store.runs import latest_outputs

    touched = touched_steps(workflow, folder, changed, before, after, _uses(workflow))
    if not touched:
        return None
    for step_id, reason in touched.items():
        log.info("%s: %s: %s", workflow.name, step_id, reason)

    @functools.cache
    def earlier() -> dict[str, Mapping[str, Any]]:
        """Each step's outputs in the latest run where it succeeded (read once)."""
        ids = [step.id for step in workflow.steps]
        found = latest_outputs(project.runs_dir, workflow.name, ids)
        return {step_id: outputs for step_id, (_, outputs) in found.items()}

    def reusable(step_id: str) -> bool:
        """An earlier run recorded its outputs and the files it produces are here."""
        if step_id not in earlier():
            return False
        gone = _gone_files(workflow, workflow.step(step_id), given, earlier())
        if gone:
            log.info("%s: %s: runs again: %s matches no file", workflow.name, step_id, gone[0])
        return not gone

    return Affected(workflow, select_steps(workflow, touched, reusable), touched)


def _gone_files(
    workflow: Workflow,
    step: Step,
    given: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any] | None],
) -> list[str]:
    """The step's ``produces:`` globs that match no file, resolved as a run started
    now would resolve them (none when they cannot be resolved: the run says why)."""
    if not step.produces:
        return []
    from nbflow.engine.fingerprint import missing_files
    from nbflow.engine.parameters import resolve_globs, resolve_run_parameters
    from nbflow.run_record import parse_time, utc_now

    now = utc_now()
    try:
        params = resolve_run_parameters(workflow, given, parse_time(now))
        run = {"id": "", "date": now[:10]}
        patterns = resolve_globs(workflow, step.produces, params, outputs, run)
    except NbflowError:
        return []
    return missing_files(workflow.directory, patterns)


def _uses(workflow: Workflow) -> dict[str, set[str]]:
    """For each step, the workflow parameters it uses: those its notebook's parameters
    cell assigns (they are injected) and those its ``parameters:`` or ``foreach:``
    refer to."""
    from nbflow.manifest.expressions import find_references
    from nbflow.manifest.notebooks import inspect_notebook

    declared = {p.name for p in workflow.parameters}
    uses = {}
    for step in workflow.steps:
        cell = set(inspect_notebook(workflow.notebook_path(step)).parameters or ()) & declared
        used = [dict(step.parameters), step.foreach_data]
        refs = {r.name for r in find_references(used) if r.kind == "params"}
        uses[step.id] = cell | refs
    return uses


def _relative(path: Path, top: Path) -> str:
    return path.resolve().relative_to(top).as_posix()


def _parse(text: str | None) -> Mapping[str, Any] | None:
    """A manifest's plain data; an empty mapping when it is not valid YAML (every
    entry then differs, so every step counts as touched)."""
    if text is None:
        return None
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load(text)
    except Exception:  # any YAML error: compare as if empty
        return {}
    return data if isinstance(data, Mapping) else {}
