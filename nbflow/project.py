"""The project: the folder holding ``workflows/`` and ``runs/``.

The root is the nearest folder, from where nbflow is called upwards, holding
``nbflow.yaml`` (written by ``nbflow init``), else the top of the Git work tree,
else the folder itself. Paths in records are relative to the root so a repository
can be cloned anywhere.

``nbflow.yaml`` holds project settings, read with ruamel's safe loader (plain YAML
by libyaml, see manifest/fast_yaml.py) when first needed (``Project.config``); a
bad file is a :class:`ConfigError` naming it.
``runs_dir`` (default ``runs``) is where every command reads and writes run
folders, commits them from, and what generated path filters leave out.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from nbflow.errors import ConfigError

CONFIG_FILE = "nbflow.yaml"
WORKFLOWS_DIR = "workflows"
RUNS_DIR = "runs"
COMMIT_TARGETS = ("current", "runs-branch", "pr")
DEFAULT_RUNS_BRANCH = "nbflow/runs"
DEFAULT_WARN_BYTES = 5_000_000
DEFAULT_MAX_BYTES = 50_000_000


@dataclass(frozen=True)
class CommitSettings:
    """The ``commit:`` section of ``nbflow.yaml``: where and how runs are committed."""

    target: str = "current"
    runs_branch: str = DEFAULT_RUNS_BRANCH
    warn_notebook_bytes: int = DEFAULT_WARN_BYTES
    max_notebook_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def workflows_dir(self) -> Path:
        return self.root / WORKFLOWS_DIR

    @functools.cached_property
    def runs_dir(self) -> Path:
        """Where run folders go: ``runs_dir`` in ``nbflow.yaml`` (default ``runs``)."""
        return self.root / _runs_dir(self.config_file, self.config.get("runs_dir", RUNS_DIR))

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    @functools.cached_property
    def config(self) -> dict[str, Any]:
        """The settings in ``nbflow.yaml`` (``{}`` when there is none)."""
        return _read_config(self.config_file)

    @functools.cached_property
    def commit(self) -> CommitSettings:
        """The ``commit:`` settings, checked; defaults for what is not set."""
        return _commit_settings(self.config_file, self.config.get("commit"))

    @functools.cached_property
    def require_clean(self) -> bool:
        """``require_clean: true``: runs refuse to start from uncommitted changes."""
        value = self.config.get("require_clean", False)
        if not isinstance(value, bool):
            raise ConfigError(
                f"{self.config_file}: require_clean: expected true or false, got {value!r}"
            )
        return value

    def commit_target(self, requested: str | None = None, workflow: str | None = None) -> str:
        """The target to commit a run to: ``requested`` (the command line), else the
        workflow's ``commit.target``, else this project's, else ``current``."""
        return requested or workflow or self.commit.target

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


def _read_config(path: Path) -> dict[str, Any]:
    from nbflow.manifest.fast_yaml import parse

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the project settings: {exc}") from None
    if fast := parse(text):  # plain YAML, read as ruamel reads it, by libyaml
        return fast.root
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{path}: invalid YAML: {detail}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def _runs_dir(path: Path, value: Any) -> str:
    """The ``runs_dir`` setting, checked: a folder inside the project, as POSIX text."""
    folder = PurePosixPath(value) if isinstance(value, str) and value.strip() else None
    if (
        folder is None
        or folder.is_absolute()
        or ".." in folder.parts
        or not folder.parts
        or folder.parts[0] in (WORKFLOWS_DIR, ".git")
    ):
        raise ConfigError(
            f"{path}: runs_dir: expected a folder inside the project other than workflows/, "
            f"such as runs, got {value!r}"
        )
    return folder.as_posix()


def _commit_settings(path: Path, section: Any) -> CommitSettings:
    if section is None:
        return CommitSettings()
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: commit: expected a mapping, e.g. `commit: {{target: current}}`")
    allowed = ("target", "runs_branch", "warn_notebook_bytes", "max_notebook_bytes")
    for key in section:
        if key not in allowed:
            raise ConfigError(f"{path}: commit.{key}: unknown key; allowed: {', '.join(allowed)}")
    target = section.get("target", "current")
    if target not in COMMIT_TARGETS:
        raise ConfigError(
            f"{path}: commit.target: {target!r} is not one of {', '.join(COMMIT_TARGETS)}"
        )
    branch = section.get("runs_branch", DEFAULT_RUNS_BRANCH)
    if not isinstance(branch, str) or not branch.strip() or branch.startswith("-"):
        raise ConfigError(f"{path}: commit.runs_branch: expected a branch name, got {branch!r}")
    return CommitSettings(
        target=target,
        runs_branch=branch.strip(),
        warn_notebook_bytes=_bytes(path, section, "warn_notebook_bytes", DEFAULT_WARN_BYTES),
        max_notebook_bytes=_bytes(path, section, "max_notebook_bytes", DEFAULT_MAX_BYTES),
    )


def _bytes(path: Path, section: Mapping[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(
            f"{path}: commit.{key}: expected a positive number of bytes, e.g. {default}, "
            f"got {value!r}"
        )
    return value
