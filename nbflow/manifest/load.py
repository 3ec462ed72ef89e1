"""Load ``workflow.yaml``: ruamel round-trip parse → checks → frozen model.

Design decisions:

- Every problem found in one pass is reported at once, each with file, line,
  column, key path and a fix (:class:`~nbflow.errors.Problem`), in file order.
  Positions come from ruamel's round-trip nodes and are stored 1-based on the
  model, so later checks can point at a line too.
- The pipeline, one module per stage:

  - :mod:`~nbflow.manifest.document` reads the file within limits (size, depth,
    aliases, UTF-8) and keeps where each value is written; duplicate keys;
  - :mod:`~nbflow.manifest.unbuilt`: values YAML reads as dates or numbers that do
    not exist (``2024-02-30``), kept as text; only their own problem is reported
    at their position, not what later checks make of the text;
  - :mod:`~nbflow.manifest.schema_check` checks structure and types against the
    shipped JSON Schema (``schema.json``, also used by editors), in friendly words;
  - :mod:`~nbflow.manifest.semantic_check` checks the meaning (unknown steps,
    cycles, notebooks, parameters, schedules), with
    :mod:`~nbflow.manifest.reference_check` for ``${{ … }}`` references;
  - :mod:`~nbflow.manifest.builder` turns the checked document into the model.
- Paths (notebooks, inputs, produces) are relative to the folder holding the manifest, and
  must stay inside it, so a workflow folder can be moved or copied whole.
- Nothing here imports papermill, Jupyter or Git: validating a large manifest must
  stay fast (notebooks are checked with nbformat's validator, see notebook_file.py);
  ruamel, jsonschema, nbformat and croniter are imported on first use.
- Warnings (a stale ``injected-parameters`` cell) do not stop a load: they are kept
  on :attr:`Workflow.warnings` for ``nbflow validate`` to show.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nbflow.errors import ManifestError, Problem, UsageError
from nbflow.manifest.builder import build_workflow
from nbflow.manifest.document import KeyPath as KeyPath
from nbflow.manifest.document import duplicate_key_problems, read_document
from nbflow.manifest.model import Workflow
from nbflow.manifest.schema_check import schema as schema
from nbflow.manifest.schema_check import schema_problems
from nbflow.manifest.semantic_check import SemanticCheck
from nbflow.manifest.suggestions import did_you_mean
from nbflow.manifest.unbuilt import unbuilt_problems

__all__ = ["find_manifests", "load_manifest", "resolve_workflow"]

MANIFEST_NAME = "workflow.yaml"


def load_manifest(path: Path, *, check_notebooks: bool = True) -> Workflow:
    """Load and check the manifest at ``path``; ManifestError listing every problem.

    ``check_notebooks=False`` skips checking the notebooks (their existence, their
    parameters cell and recorded outputs), e.g. for a quick graph display; a step
    without a ``kernel:`` still takes its notebook's kernel when the file can be read.
    """
    doc = read_document(Path(path))
    check = SemanticCheck(doc, check_notebooks)
    unbuilt = unbuilt_problems(doc)
    at_unbuilt = {p.source for p in unbuilt}
    others = duplicate_key_problems(doc) + schema_problems(doc) + check.run()
    problems = unbuilt + [p for p in others if p.source not in at_unbuilt]
    if problems:
        raise ManifestError(sorted(problems, key=_problem_order))
    workflow = build_workflow(doc, check.needs)
    return dataclasses.replace(workflow, warnings=tuple(check.warnings))


def find_manifests(root: Path) -> list[Path]:
    """Every ``workflows/*/workflow.yaml`` under the project ``root``, sorted."""
    return sorted(Path(root).glob(f"workflows/*/{MANIFEST_NAME}"))


def resolve_workflow(name_or_path: str, root: Path) -> Path:
    """The manifest named by a workflow name, a folder, or a ``workflow.yaml`` path."""
    given = Path(name_or_path)
    for base in (Path.cwd(), Path(root)):
        candidate = given if given.is_absolute() else base / given
        if candidate.is_file():
            return candidate
        if (candidate / MANIFEST_NAME).is_file():
            return candidate / MANIFEST_NAME
    by_name = Path(root) / "workflows" / name_or_path / MANIFEST_NAME
    if by_name.is_file():
        return by_name
    names = [p.parent.name for p in find_manifests(root)]
    if not names:
        raise UsageError(
            f"unknown workflow '{name_or_path}': no workflows under {Path(root) / 'workflows'}; "
            "create one with `nbflow new NAME`"
        )
    hint = did_you_mean(name_or_path, names) or f"workflows are: {', '.join(names)}"
    raise UsageError(f"unknown workflow '{name_or_path}'; {hint}")


def _problem_order(problem: Problem) -> tuple[int, int, int]:
    """File order; problems without a position last."""
    if problem.source is None:
        return (1, 0, 0)
    return (0, problem.source.line, problem.source.col)
