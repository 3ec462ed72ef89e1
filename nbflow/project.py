"""The project: the folder holding ``workflows/`` and ``runs/``.

The root is the nearest folder, from where nbflow is called upwards, holding
``nbflow.yaml`` (written by ``nbflow init``), else the top of the Git work tree,
else the folder itself. Paths in records are relative to the root so a repository
can be cloned anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "nbflow.yaml"
WORKFLOWS_DIR = "workflows"
RUNS_DIR = "runs"


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def workflows_dir(self) -> Path:
        return self.root / WORKFLOWS_DIR

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_DIR

    def relative(self, path: Path) -> str:
        """``path`` relative to the root when inside it, else absolute, as POSIX text."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.resolve().as_posix()


def find_project(start: Path | None = None) -> Project:
    """The project containing ``start`` (default: the current folder)."""
    start = (start or Path.cwd()).resolve()
    candidates = [start, *start.parents]
    for marker in (CONFIG_FILE, ".git"):
        for folder in candidates:
            if (folder / marker).exists():
                return Project(folder)
    return Project(start)


def project_of_manifest(manifest: Path) -> Project:
    """The project of a workflow: the folder above ``workflows/`` when it is laid out
    that way, else the project found from the manifest's folder."""
    folder = manifest.resolve().parent
    if folder.parent.name == WORKFLOWS_DIR:
        return Project(folder.parent.parent)
    return find_project(folder)
