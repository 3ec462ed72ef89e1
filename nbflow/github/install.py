"""How a generated job gets Python, nbflow and the project's own dependencies.

Design decisions (docs/github.md explains them to users):

- nbflow is pinned to the version that generated the file
  (``nbflow-workflows==<version>``): upgrading nbflow changes the text, so
  ``nbflow ci check`` says the file is stale until it is regenerated.
- The project's dependencies come from one source, the first found of ``uv.lock``,
  ``requirements.txt``, ``pyproject.toml``'s ``[project] dependencies``, unless
  ``nbflow.yaml`` lists the files (``ci: {dependencies: [requirements-nb.txt]}``;
  ``[]`` installs nothing more). nbflow's own repository installs itself
  (``-e ".[examples]"``) so its examples run the code being changed.
- uv installs (``astral-sh/setup-uv``): on a fresh runner the install is most of a
  short run's wall time (bench/README.md). Its cache is keyed on the dependency files,
  or on the generated file itself (which holds the nbflow pin) when there are none.
  Packages go into setup-python's interpreter (``--system``): nothing is created in
  the checkout, whose uncommitted changes a run records.
- The Python version: ``ci.python`` in ``nbflow.yaml``, else ``.python-version``
  (handed to setup-python as ``python-version-file``), else the oldest minor
  version that ``requires-python`` and nbflow both allow, else 3.12.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.errors import ConfigError
from nbflow.project import Project

__all__ = ["Setup", "project_setup"]

DISTRIBUTION = "nbflow-workflows"
DEFAULT_PYTHON = "3.12"
#: Python minor versions nbflow supports, oldest first: `requires-python` picks among them
PYTHON_MINORS = ("3.11", "3.12", "3.13", "3.14")
LOCK = "uv.lock"
REQUIREMENTS = "requirements.txt"
PYPROJECT = "pyproject.toml"
PYTHON_VERSION_FILE = ".python-version"
SYSTEM = "--system"  # into setup-python's interpreter


@dataclass(frozen=True)
class Setup:
    """What the setup steps of every generated job need to know about the project."""

    python: Mapping[str, str]  # setup-python's `with:`: python-version or python-version-file
    install: tuple[str, ...]  # the install step's shell lines
    cache_glob: tuple[str, ...]  # what setup-uv's cache key hashes; empty: the workflow file


def project_setup(root: Path) -> Setup:
    """The setup of the project at ``root``, from its files and ``nbflow.yaml``'s ``ci:``."""
    project = Project(Path(root))
    settings = _settings(project)
    files = _dependency_files(project, settings)
    return Setup(
        python=_python(project, settings),
        install=_install_lines(project.root, files),
        cache_glob=tuple(files),
    )


def nbflow_version() -> str:
    """The installed nbflow's version, which the generated files pin."""
    from nbflow.version import __version__

    return __version__


# --------------------------------------------------------------------------- settings


_KEYS = ("python", "dependencies")


def _settings(project: Project) -> Mapping[str, Any]:
    """``ci:`` of ``nbflow.yaml``, checked."""
    section = project.config.get("ci")
    path = project.config_file
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(
            f"{path}: ci: expected a mapping, e.g. `ci: {{python: '3.12', "
            "dependencies: [requirements.txt]}`"
        )
    for key in section:
        if key not in _KEYS:
            raise ConfigError(f"{path}: ci.{key}: unknown key; allowed: {', '.join(_KEYS)}")
    python = section.get("python")
    if python is not None and not (isinstance(python, str) and python.strip()):
        raise ConfigError(
            f"{path}: ci.python: expected a version in quotes such as '3.12', got {python!r} "
            "(unquoted, YAML reads 3.10 as the number 3.1)"
        )
    return section


def _dependency_files(project: Project, settings: Mapping[str, Any]) -> list[str]:
    """The files the project's dependencies are installed from, relative to its root."""
    root, path = project.root, project.config_file
    if "dependencies" not in settings:
        return _found_dependency_files(root)
    listed = settings["dependencies"]
    listed = [listed] if isinstance(listed, str) else listed
    if not isinstance(listed, list) or not all(isinstance(f, str) and f for f in listed):
        raise ConfigError(
            f"{path}: ci.dependencies: expected a list of files (uv.lock, requirements "
            f"files or pyproject.toml), got {settings['dependencies']!r}"
        )
    for name in listed:
        if not (root / name).is_file():
            raise ConfigError(
                f"{path}: ci.dependencies: {name} does not exist; list files relative to "
                f"{root}, or `dependencies: []` to install nothing besides nbflow"
            )
    return list(listed)


def _found_dependency_files(root: Path) -> list[str]:
    if (root / LOCK).is_file():
        return [LOCK]
    if (root / REQUIREMENTS).is_file():
        return [REQUIREMENTS]
    project = _pyproject(root)
    if project.get("dependencies") and project.get("name") != DISTRIBUTION:
        return [PYPROJECT]
    return []


def _pyproject(root: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads((root / PYPROJECT).read_text(encoding="utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    project = data.get("project")
    return project if isinstance(project, dict) else {}


# --------------------------------------------------------------------------- install


def _install_lines(root: Path, files: Sequence[str]) -> tuple[str, ...]:
    """``uv`` commands: the lock synced first, then nbflow and the other files at once
    (one resolution: a conflict with nbflow's own requirements fails here, not later)."""
    lines: list[str] = []
    requirements: list[str] = []
    for name in files:
        if Path(name).name == LOCK:
            lines.append(_uv_sync(name))
        else:
            requirements += ["-r", name]
    if _pyproject(root).get("name") == DISTRIBUTION:  # nbflow's own repository
        extras = _pyproject(root).get("optional-dependencies", {})
        nbflow = ["-e", '".[examples]"' if "examples" in extras else "."]
    else:
        nbflow = [f'"{DISTRIBUTION}=={nbflow_version()}"']
    lines.append(" ".join(["uv pip install", SYSTEM, *nbflow, *requirements]))
    return tuple(lines)


def _uv_sync(lock: str) -> str:
    """Sync the lock's project into setup-python's interpreter, keeping what is there."""
    folder = Path(lock).parent.as_posix()
    project = f" --project {folder}" if folder != "." else ""
    return f'UV_PROJECT_ENVIRONMENT="$pythonLocation" uv sync --locked --inexact{project}'


# --------------------------------------------------------------------------- python


def _python(project: Project, settings: Mapping[str, Any]) -> Mapping[str, str]:
    if (configured := settings.get("python")) is not None:
        return {"python-version": str(configured)}
    if (project.root / PYTHON_VERSION_FILE).is_file():
        return {"python-version-file": PYTHON_VERSION_FILE}
    requires = _pyproject(project.root).get("requires-python")
    if isinstance(requires, str) and requires.strip():
        return {"python-version": _oldest_allowed(project.root / PYPROJECT, requires)}
    return {"python-version": DEFAULT_PYTHON}


def _oldest_allowed(path: Path, requires: str) -> str:
    """The oldest minor version of :data:`PYTHON_MINORS` that ``requires`` allows."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        spec = SpecifierSet(requires)
    except InvalidSpecifier:
        raise ConfigError(
            f"{path}: project.requires-python: {requires!r} is not a version specifier; "
            "write e.g. '>=3.11', or set `ci: {python: '3.12'}` in nbflow.yaml"
        ) from None
    for minor in PYTHON_MINORS:
        if spec.contains(f"{minor}.0", prereleases=True) or spec.contains(f"{minor}.99"):
            return minor
    raise ConfigError(
        f"{path}: project.requires-python: {requires!r} allows none of the Python versions "
        f"nbflow runs on ({', '.join(PYTHON_MINORS)}); widen it, or set "
        "`ci: {python: '3.12'}` in nbflow.yaml"
    )
