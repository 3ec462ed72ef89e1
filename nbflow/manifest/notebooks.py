"""What the loader needs to know about a step's notebook.

Validation reads every notebook a manifest names, so it must be fast: a
1,000-step manifest validates in well under a second. The file is read by
:mod:`nbflow.manifest.notebook_file` (JSON, nbformat 3 upgraded, ids given, checked
with nbformat's validator; papermill is not imported), the code cells are parsed
with :mod:`ast`, and the result is cached per path (keyed on modification time and
size, so an edited notebook is re-read).

It finds: the names assigned in the cell tagged ``parameters`` (the cell papermill
injects after) or the syntax error that stops reading them, the type each of them
declares (its annotation, else the type of its literal default: ``-p STEP.NAME=VALUE``
and a step's ``parameters:`` are checked against it), the outputs the notebook
records with a literal name (``record("rows", n)`` or ``nbflow.record("rows", n)``),
the kernel named in its metadata, a stale ``injected-parameters`` cell left by
papermill or Ploomber, and whether nbformat upgraded the file from nbformat 3.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nbflow.manifest.notebook_file import (
    NotebookError,
    NotebookFile,
    cell_place,
    multiline_text,
    read_notebook,
    source_digest,
)
from nbflow.manifest.text_notebook import is_text_notebook

__all__ = ["Declared", "NotebookError", "NotebookInfo", "inspect_notebook"]

INJECTED_TAG = "injected-parameters"  # the cell papermill writes the parameters into


@dataclass(frozen=True)
class Declared:
    """The type a parameters cell gives a name: ``min_amount: float = 0.0``."""

    type: str  # a manifest type: str, int, float, bool, list or dict
    text: str  # the assignment as written, for messages


@dataclass(frozen=True)
class NotebookInfo:
    """What the loader checks a step against.

    ``parameters`` is None when no cell is tagged ``parameters``; ``parameters_error``
    says why its names could not be read (a syntax error, with the line in that cell).
    ``types`` holds the parameters whose type is declared; the others (``x = None``,
    ``d = date(…)``) take text. ``injected`` is the index and source of a cell tagged
    ``injected-parameters`` saved in the notebook (a run replaces it).
    """

    parameters: tuple[str, ...] | None
    records: tuple[str, ...]
    kernel: str | None
    types: Mapping[str, Declared] = field(default_factory=dict, compare=False)
    parameters_error: str | None = None
    injected: tuple[int, str] | None = None
    upgraded_from: str | None = None
    #: A text notebook's line where each cell starts (see NotebookFile.cell_lines).
    cell_lines: tuple[int | None, ...] = field(default=(), compare=False)
    #: An ``.ipynb``'s source_digest (for its fingerprint; nbformat 3 as upgraded to 4);
    #: "" for a text notebook.
    source_digest: str = field(default="", compare=False)

    def where(self, index: int) -> str:
        """``line 7`` for a cell of a text notebook found in the file, else ``cell 3``."""
        return cell_place(self.cell_lines, index)


_cache: dict[Path, tuple[tuple[int, int], NotebookInfo]] = {}


def inspect_notebook(path: Path) -> NotebookInfo:
    """Read ``path`` (cached per path); NotebookError with a clear message if unusable."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise NotebookError(f"{path}: notebook not found") from None
    except OSError as exc:
        raise NotebookError(f"{path}: cannot read notebook: {exc.strerror}") from exc
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached and cached[0] == key:
        return cached[1]
    notebook = read_notebook(path)
    info = _inspect(notebook)
    if not is_text_notebook(path):  # nbformat 3 as upgraded: its cells are in worksheets
        info = replace(info, source_digest=source_digest(notebook.data))  # ids do not count
    _cache[path] = (key, info)
    return info


def _inspect(notebook: NotebookFile) -> NotebookInfo:
    data = notebook.data
    cells = data["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    index = next((i for i, c in enumerate(cells) if _is_parameters(c)), -1)
    params = _source(cells[index]) if index >= 0 else None
    tree, error = _parse_cell(params) if params is not None else (None, None)
    return NotebookInfo(
        parameters=None if params is None else _assigned(tree),
        records=_records(code),
        kernel=_kernel(data),
        types={} if params is None else _declared_types(tree, params),
        parameters_error=_where_error(notebook, index, *error) if error else None,
        injected=next(
            ((i, _source(c)) for i, c in enumerate(cells) if INJECTED_TAG in _tags(c)), None
        ),
        upgraded_from=notebook.upgraded_from,
        cell_lines=notebook.cell_lines,
    )


def _where_error(notebook: NotebookFile, index: int, line: int, message: str) -> str:
    """``cell 0, line 2 (…): …`` in an ``.ipynb``; ``line 7 (…): …`` in a text
    notebook, counted in the file."""
    start = notebook.cell_lines[index] if index < len(notebook.cell_lines) else None
    if start is None:
        return f"cell {index}, line {line}{message}"
    return f"line {start + line - 1}{message}"


def _is_parameters(cell: dict[str, Any]) -> bool:
    return cell["cell_type"] == "code" and "parameters" in _tags(cell)


def _tags(cell: dict[str, Any]) -> list[str]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _source(cell: dict[str, Any]) -> str:
    return multiline_text(cell.get("source", ""))


def _python(source: str) -> str:
    """IPython magics and shell escapes are not Python: blank them out."""
    lines = ["" if line.lstrip()[:1] in ("%", "!") else line for line in source.splitlines()]
    return "\n".join(lines)


def _parse_cell(source: str) -> tuple[ast.Module | None, tuple[int, str] | None]:
    """The cell's syntax tree, or None and ``(2, " (y = (): '(' was never closed")``:
    the line in the cell and what is wrong there, for a cell that is not Python."""
    try:
        return ast.parse(_python(source)), None
    except SyntaxError as exc:
        number, lines = exc.lineno or 0, source.splitlines()
        line = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        shown = f" ({line})" if line else ""
        return None, (number, f"{shown}: {exc.msg}")


def _assigned(tree: ast.Module | None) -> tuple[str, ...]:
    names: list[str] = []
    for node in tree.body if tree else ():
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            names.extend(_target_names(target))
    return tuple(dict.fromkeys(names))


def _declared_types(tree: ast.Module | None, source: str) -> dict[str, Declared]:
    """Each simply assigned name with a type: its annotation, else its literal's type."""
    types: dict[str, Declared] = {}
    for node in tree.body if tree else ():
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign):
            targets, kind = [node.target], _annotated(node.annotation) or _literal(node.value)
        elif isinstance(node, ast.Assign):
            targets, kind = node.targets, _literal(node.value)
        else:
            continue
        for name in (t.id for t in targets if isinstance(t, ast.Name)):
            if kind and kind != "none":
                types[name] = Declared(kind, ast.get_source_segment(source, node) or name)
            else:
                types.pop(name, None)
    return types


_TYPE_NAMES = {
    "str": "str", "int": "int", "float": "float", "bool": "bool",
    "list": "list", "List": "list", "tuple": "list", "Tuple": "list", "Sequence": "list",
    "dict": "dict", "Dict": "dict", "Mapping": "dict",
}  # fmt: skip


def _annotated(annotation: ast.expr) -> str | None:
    """``float``, ``list[int]``, ``typing.Dict``, ``Optional[int]``, ``int | None``."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        kinds = {_annotated(side) for side in (annotation.left, annotation.right)} - {"none"}
        return kinds.pop() if len(kinds) == 1 else None
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return "none"
    if isinstance(annotation, ast.Subscript):
        if _name(annotation.value) == "Optional":
            return _annotated(annotation.slice)
        annotation = annotation.value
    return _TYPE_NAMES.get(_name(annotation) or "")


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _literal(value: ast.expr | None) -> str | None:
    """The type of a literal default: ``3`` int, ``-0.5`` float, ``"a"`` str, ``[]`` list."""
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub | ast.UAdd):
        value = value.operand
    if isinstance(value, ast.Constant) and not isinstance(value.value, bytes | complex):
        kind = type(value.value).__name__
        return kind if kind in ("str", "int", "float", "bool") else None
    if isinstance(value, ast.List | ast.Tuple):
        return "list"
    return "dict" if isinstance(value, ast.Dict) else None


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _target_names(elt)]
    return []


def _records(cells: list[dict[str, Any]]) -> tuple[str, ...]:
    names: list[str] = []
    for cell in cells:
        source = _source(cell)
        if source.isascii() and "record" not in source:
            continue  # no record() call (names are NFKC-normalised: only ASCII is sure)
        tree = _parse_cell(source)[0]
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Call) and _is_record(node.func) and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.append(first.value)
    return tuple(dict.fromkeys(names))


def _is_record(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "record"
    return isinstance(func, ast.Attribute) and func.attr == "record"


def _kernel(data: dict[str, Any]) -> str | None:
    metadata = data.get("metadata")
    spec = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    name = spec.get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) else None
