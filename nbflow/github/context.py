"""What a generated GitHub Actions file depends on (:class:`Context`): the workflow,
where its manifest is, its push paths and commit target, the project's setup and the
action pins; and where the file lives (:func:`ci_path`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.github.install import Setup, project_setup
from nbflow.github.pins import PINS, Pin
from nbflow.manifest.model import Workflow
from nbflow.project import Project

CI_DIR = Path(".github/workflows")


FILE_PREFIX = "nbflow-"


def ci_path(name: str) -> Path:
    """Where the workflow ``name``'s generated file lives, relative to the project root."""
    return CI_DIR / f"{FILE_PREFIX}{name}.yml"


@dataclass(frozen=True)
class Context:
    """What a generated file depends on: the workflow and a few facts about the project."""

    workflow: Workflow
    manifest: str  # relative to the root, POSIX
    push_paths: tuple[str, ...]  # empty: no push (nor pull_request) trigger
    commit_target: str
    setup: Setup  # Python, nbflow and the project's dependencies
    pins: Mapping[str, Pin]  # the actions used, by name
    runs: str = "runs"  # the project's runs_dir, relative to the root, POSIX

    @classmethod
    def of(cls, workflow: Workflow, root: Path, pins: Mapping[str, Pin] = PINS) -> Context:
        manifest = workflow.manifest.resolve().relative_to(root.resolve()).as_posix()
        raw = _raw_manifest(workflow.manifest)
        return cls(
            workflow=workflow,
            manifest=manifest,
            push_paths=_push_paths(workflow, raw, manifest),
            commit_target=_commit_target(workflow, raw),
            setup=project_setup(root),
            pins=pins,
            runs=_runs(Project(root)),
        )

    @property
    def per_step(self) -> bool:
        """``ci: {jobs: per-step}``: one job per step, then an assemble job."""
        return self.workflow.ci.per_step

    @property
    def name(self) -> str:
        return self.workflow.name

    @property
    def has_triggers(self) -> bool:
        triggers = self.workflow.triggers
        return bool(self.push_paths or triggers.schedule or triggers.dispatch)


def _runs(project: Project) -> str:
    return project.runs_dir.relative_to(project.root).as_posix()


def _raw_manifest(path: Path) -> dict[str, Any]:
    """The manifest as plain data, for keys the model does not (yet) carry."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _push_paths(workflow: Workflow, raw: Mapping[str, Any], manifest: str) -> tuple[str, ...]:
    on = raw.get("on")
    push = on.get("push", False) if isinstance(on, Mapping) else False
    if push is False or push is None:
        return ()
    folder = manifest.rsplit("/", 1)[0]
    return workflow.triggers.push_paths or (f"{folder}/**",)


def _commit_target(workflow: Workflow, raw: Mapping[str, Any]) -> str:
    target = getattr(workflow, "commit_target", None)  # once the model carries it
    if isinstance(target, str):
        return target
    commit = raw.get("commit")
    found = commit.get("target") if isinstance(commit, Mapping) else None
    return found if isinstance(found, str) else "current"
