"""Check a step's notebook: a path inside the workflow folder ending in ``.ipynb``, a
file that exists and is a valid notebook (read by ``notebooks.py``, never papermill
or Jupyter), without a stale injected-parameters cell; and the step's ``parameters:``
against its parameters cell: each one defined there, of the type it declares.

:class:`NotebookCheck` is the semantic checker's collaborator: it appends to the
checker's own problems, warnings and notebooks (read by the reference check).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from nbflow.errors import Problem
from nbflow.manifest.document import Document, KeyPath, as_dict
from nbflow.manifest.notebooks import Declared, NotebookError, NotebookInfo, inspect_notebook
from nbflow.manifest.suggestions import did_you_mean
from nbflow.manifest.values import check_declared

__all__ = ["NotebookCheck", "leaves_folder"]


@dataclass
class NotebookCheck:
    """The notebook checks of one manifest, sharing the semantic checker's lists."""

    doc: Document
    check_notebooks: bool
    problems: list[Problem]
    warnings: list[Problem]
    notebooks: dict[int, NotebookInfo]  # by step index, for steps whose notebook was read

    def add(self, path: KeyPath, message: str, fix: str = "", *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, fix, key=key))

    def warn(self, path: KeyPath, message: str, fix: str = "") -> None:
        self.warnings.append(self.doc.problem(path, message, fix))

    def check_notebook(self, index: int, step: dict[str, Any]) -> None:
        notebook = step.get("notebook")
        if not isinstance(notebook, str) or not notebook:
            return
        path: KeyPath = ("steps", index, "notebook")
        if leaves_folder(notebook):
            self.add(
                path,
                f"notebook path '{notebook}' leaves the workflow folder",
                "use a path relative to the folder holding workflow.yaml, without '..'",
            )
            return
        if not notebook.endswith(".ipynb"):
            self.add(path, f"'{notebook}' is not a notebook", "a notebook path ends in .ipynb")
            return
        if not self.check_notebooks:
            return
        file = self.doc.file.parent / notebook
        if not file.is_file():
            self.add(path, f"notebook '{notebook}' not found in {file.parent}", self._new(step))
            return
        try:
            info = self.notebooks[index] = inspect_notebook(file)
        except NotebookError as exc:
            for problem in exc.problems:
                self.add(path, f"invalid notebook: {problem}")
            return
        if info.injected is not None:
            self.warn(
                path,
                _stale_injected(notebook, *info.injected),
                f"take it out with `nbflow inject --remove {self.doc.data.get('name')}` or delete "
                "that cell from the notebook: a run replaces it with the step's parameters",
            )

    def _new(self, step: dict[str, Any]) -> str:
        """How to fix a missing notebook: a close name in the workflow folder, or
        ``nbflow new`` writing it (for a step the manifest lists, it writes the notebook)."""
        name, step_id = self.doc.data.get("name", "WORKFLOW"), step.get("id", "STEP")
        create = f"create it with `nbflow new {name} {step_id}`"
        folder = self.doc.file.parent
        present = [
            p.relative_to(folder).as_posix()
            for p in folder.glob("**/*.ipynb")
            if ".ipynb_checkpoints" not in p.parts
        ]
        hint = did_you_mean(step["notebook"], present, lambda path: path.removesuffix(".ipynb"))
        return f"{hint} Or {create}" if hint else create

    def check_parameters(self, index: int, step: dict[str, Any]) -> None:
        info = self.notebooks.get(index)
        passed = as_dict(step.get("parameters"))
        if info is None or not passed:
            return
        path: KeyPath = ("steps", index, "parameters")
        if info.parameters_error is not None:
            self.add(
                path,
                f"the parameters cell of '{step['notebook']}' has a syntax error: "
                f"{info.parameters_error}",
                'correct that line in the cell tagged "parameters"',
                key=True,
            )
            return
        if info.parameters is None:
            self.add(
                path,
                f"notebook '{step['notebook']}' has no cell tagged 'parameters'",
                'tag the cell that assigns its parameters with "parameters" '
                "(Jupyter: View > Cell Toolbar > Tags)",
                key=True,
            )
            return
        for name, value in passed.items():
            if name not in info.parameters:
                defined = ", ".join(info.parameters) or "nothing"
                fix = did_you_mean(name, info.parameters) or (
                    f'assign it in the cell tagged "parameters" (it defines: {defined})'
                )
                self.add(
                    (*path, name),
                    f"the parameters cell of '{step['notebook']}' does not define '{name}'",
                    fix,
                    key=True,
                )
            elif (declared := info.types.get(name)) and not _has_expression(value):
                self._check_declared((*path, name), step["notebook"], declared, value)

    def _check_declared(self, path: KeyPath, notebook: str, declared: Declared, value: Any) -> None:
        """A literal step parameter against the type its notebook declares for it."""
        try:
            check_declared(declared, value)
        except ValueError as exc:
            self.add(
                path,
                f"'{notebook}' declares `{declared.text}`: {exc}",
                f"give a value of type {declared.type}, or change that line of its parameters cell",
            )


def leaves_folder(notebook: str) -> bool:
    posix, windows = PurePosixPath(notebook), PureWindowsPath(notebook)
    return (
        posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or ".." in posix.parts
        or ".." in windows.parts
    )


def _stale_injected(notebook: str, cell: int, source: str) -> str:
    """The warning for an ``injected-parameters`` cell saved in a notebook."""
    lines = [line.strip() for line in source.splitlines()]
    values = "; ".join(line for line in lines if line and not line.startswith("#")) or "empty"
    shown = values if len(values) <= 120 else values[:117] + "..."
    return (
        f"notebook '{notebook}' keeps an injected-parameters cell left by papermill or "
        f"Ploomber (cell {cell}: {shown})"
    )


def _has_expression(value: Any) -> bool:
    """Whether a step parameter holds a ``${{ … }}`` (its type is known at run time)."""
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return isinstance(value, str) and "${{" in value
