"""``nbflow init`` and ``nbflow new``: create a project, a workflow or a step.

Appending a step edits ``workflow.yaml`` through ruamel's round-trip mode, so the
user's comments, key order and layout survive.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from nbflow.errors import UsageError
from nbflow.project import CONFIG_FILE, WORKFLOWS_DIR
from nbflow.store.notebooks import dump_notebook

SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SAFE_STEP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

CONFIG_TEXT = """\
# nbflow project settings. Workflows live in workflows/<name>/workflow.yaml.
runs_dir: runs
"""

SCHEMA_COPY = ".nbflow/manifest.schema.json"  # editors validate manifests against it
GITIGNORE_LINES = (".ipynb_checkpoints/",)  # run locks live in .git (engine/locks.py)

MANIFEST_TEXT = """\
# yaml-language-server: $schema=../../.nbflow/manifest.schema.json
name: {name}
description: What this workflow does.
on:
  dispatch: true
parameters:
  run_date: {{type: date, default: today, description: The day to process.}}
steps:
  - id: {step}
    notebook: {step}.ipynb
"""


def init_project(path: Path) -> list[Path]:
    """Create ``nbflow.yaml``, ``workflows/``, the manifest schema and ignore rules;
    keep what exists."""
    path.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    config = path / CONFIG_FILE
    if not config.exists():
        config.write_text(CONFIG_TEXT, encoding="utf-8")
        created.append(config)
    workflows = path / WORKFLOWS_DIR
    if not workflows.exists():
        workflows.mkdir()
        created.append(workflows)
    schema = path / SCHEMA_COPY
    if not schema.exists():
        schema.parent.mkdir(exist_ok=True)
        schema.write_bytes(resources.files("nbflow.manifest").joinpath("schema.json").read_bytes())
        created.append(schema)
    ignore = path / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in lines]
    if missing:
        ignore.write_text("\n".join([*lines, *missing]) + "\n", encoding="utf-8")
        created.append(ignore)
    return created


def new_workflow(root: Path, name: str, first_step: str = "main") -> list[Path]:
    """Create ``workflows/<name>/`` with a manifest and one step notebook."""
    if not SAFE_NAME.match(name):
        raise UsageError(f"invalid workflow name '{name}': use lower-case letters, digits, - and _")
    folder = root / WORKFLOWS_DIR / name
    if (folder / "workflow.yaml").exists():
        raise UsageError(
            f"{folder / 'workflow.yaml'} exists already; add a step with `nbflow new {name} STEP`"
        )
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "workflow.yaml"
    manifest.write_text(MANIFEST_TEXT.format(name=name, step=first_step), encoding="utf-8")
    return [manifest, write_step_notebook(folder / f"{first_step}.ipynb")]


def new_step(root: Path, workflow: str, step: str) -> list[Path]:
    """Create ``<step>.ipynb`` and append the step to the manifest, keeping its layout;
    for a step the manifest lists already, write its missing notebook."""
    from ruamel.yaml import YAML

    if not SAFE_STEP.match(step):
        raise UsageError(f"invalid step id '{step}': use letters, digits, - and _ (at most 64)")
    from nbflow.manifest.load import resolve_workflow

    manifest = resolve_workflow(workflow, root)
    yaml = YAML()  # round-trip: comments and order are kept
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    data = yaml.load(manifest.read_text(encoding="utf-8"))
    steps = data.setdefault("steps", [])
    if listed := next((s for s in steps if s.get("id") == step), None):
        return [_missing_notebook(manifest, step, listed.get("notebook"))]
    notebook = manifest.parent / f"{step}.ipynb"
    steps.append({"id": step, "notebook": notebook.name})
    with manifest.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    created = [manifest]
    if not notebook.exists():
        created.append(write_step_notebook(notebook))
    return created


def _missing_notebook(manifest: Path, step: str, notebook: Any) -> Path:
    """Write the notebook a listed step names when it does not exist yet."""
    given = Path(notebook) if isinstance(notebook, str) else None
    if given is None or given.suffix != ".ipynb" or given.is_absolute() or ".." in given.parts:
        raise UsageError(
            f"{manifest}: step '{step}' exists already; its notebook: {notebook!r} is not "
            "a .ipynb path inside the workflow folder to write"
        )
    path = manifest.parent / given
    if path.exists():
        raise UsageError(f"{manifest}: step '{step}' exists already, and so does {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_step_notebook(path)


def write_step_notebook(path: Path) -> Path:
    """A new notebook with a markdown title and a cell tagged ``parameters``."""
    cells = [
        ("markdown", f"# {path.stem}\n\nWhat this step does.", []),
        (
            "code",
            "# Parameters: nbflow injects values for these names (see workflow.yaml).\n"
            'run_date = "2026-01-01"',
            ["parameters"],
        ),
        ("code", STEP_BODY, []),
    ]
    notebook = {
        "cells": [_cell(kind, source, tags, n) for n, (kind, source, tags) in enumerate(cells)],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(dump_notebook(notebook), encoding="utf-8")
    return path


STEP_BODY = """\
import nbflow

# ... your work ...
nbflow.record("done", True)  # an output later steps can use"""


def _cell(kind: str, source: str, tags: list[str], number: int) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": kind,
        "id": f"cell-{number}",
        "metadata": {"tags": tags} if tags else {},
        "source": source,
    }
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell
