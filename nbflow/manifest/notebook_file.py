"""A notebook file as nbformat 4.5, whatever saved it, or every problem that stops it.

Notebooks come from Jupyter versions old and new, papermill and Ploomber, and hand
edits. Validation and the run read them here, so both accept and refuse the same
files:

- JSON is parsed with :mod:`json`; a file nested too deeply for it is a problem,
  not a ``RecursionError``.
- nbformat 3 is upgraded in memory with nbformat's own converter
  (``nbformat.convert``), as papermill does; :attr:`NotebookFile.upgraded_from`
  says so, for the report.
- Cells without an id (nbformat 4.4 and earlier, or a 4.5 file saved by a tool that
  left them out), or with the id of an earlier cell, get a deterministic one, made
  from the cell's type and source, so identical inputs give byte-identical executed
  notebooks (nbformat and papermill would give random ones). The notebook is then
  nbformat 4.5.
- A jupytext text notebook (``.py``, ``.md``) is read with jupytext
  (:mod:`nbflow.manifest.text_notebook`); :attr:`NotebookFile.cell_lines` then says
  where each code cell starts in the file, for problems located at its line.
- The result is checked against nbformat's schema: first with fastjsonschema (fast,
  yes or no; compiled from nbformat's schema file without importing nbformat, whose
  import — traitlets, jsonschema — costs more than checking a hundred notebooks),
  and only for an invalid file with nbformat's validator and jsonschema, whose
  errors say where. Each problem names the notebook, the key path
  (``cells[1].source``) and a fix. Nothing here starts a kernel.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbflow.errors import NbflowError
from nbflow.manifest.fast_schema import compiled_check
from nbflow.manifest.text_notebook import cell_lines, is_text_notebook, read_text

__all__ = [
    "NotebookError",
    "NotebookFile",
    "canonical_digest",
    "cell_place",
    "multiline_text",
    "nbformat_check",
    "read_notebook",
    "source_digest",
]

FORMAT_DOC = "https://nbformat.readthedocs.io/en/latest/format_description.html"
MAX_PROBLEMS = 10  # per notebook: the first ones say what is wrong
CURRENT_MINOR = 5  # nbformat 4.5: cells have ids


class NotebookError(NbflowError):
    """A notebook that cannot be run; ``problems`` holds one located line per problem."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class NotebookFile:
    """A valid notebook: ``data`` is nbformat 4 (minor 5 or later), every cell with an id."""

    data: dict[str, Any]
    upgraded_from: str | None = None  # e.g. "3.0" when nbformat's converter upgraded it
    #: A text notebook's: the 1-based line of the file where each cell's code starts
    #: (None for a markdown or empty cell); empty for an ``.ipynb``.
    cell_lines: tuple[int | None, ...] = ()


def cell_place(cell_lines: Sequence[int | None], index: int) -> str:
    """Where cell ``index`` is, for a message: ``line 7`` in a text notebook whose
    cell was found in the file (``cell_lines``, see NotebookFile), else ``cell 3``."""
    line = cell_lines[index] if index < len(cell_lines) else None
    return f"line {line}" if line is not None else f"cell {index}"


def multiline_text(value: Any) -> str:
    """A notebook's multi-line string (a cell's source, a stream's text): stored as one
    string or as a list of lines, the same text."""
    return "".join(value) if isinstance(value, list) else str(value)


def source_digest(data: Any) -> str:
    """sha256 of an ``.ipynb``'s cell types, sources and tags, as parsed from its file:
    what a step's fingerprint counts of its notebook (engine/fingerprint.py)."""
    cells = [
        [
            cell.get("cell_type"),
            multiline_text(cell.get("source", "")),
            sorted(cell.get("metadata", {}).get("tags", ())),
        ]
        for cell in data.get("cells", ())
    ]
    return canonical_digest(cells)


def canonical_digest(value: Any) -> str:
    """sha256 of ``value``'s canonical JSON (sorted keys, no spaces, UTF-8): how a
    step's fingerprint digests each thing it counts (engine/fingerprint.py)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_notebook(path: Path) -> NotebookFile:
    """Read, upgrade and validate the notebook at ``path``; NotebookError if unusable."""
    text = _read_text(path)
    if is_text_notebook(path):
        return _read_text_notebook(path, text)
    data = _parse(path, text)
    major, minor = _version(path, data)
    upgraded_from = None
    if major == 3:
        data, upgraded_from = _upgrade_v3(path, data), f"3.{minor}"
    _give_ids(data)
    _validate(path, data)
    return NotebookFile(data, upgraded_from)


def _read_text_notebook(path: Path, text: str) -> NotebookFile:
    try:
        data = read_text(path, text)
    except ValueError as exc:
        raise NotebookError(f"{path}: {exc}; correct the file as jupytext describes") from None
    _give_ids(data)
    _validate(path, data)
    return NotebookFile(data, cell_lines=cell_lines(text, data["cells"]))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookError(f"{path}: notebook not found") from None
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise NotebookError(f"{path}: cannot read notebook: {exc.strerror}") from exc


def _parse(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid notebook JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise NotebookError(
            f"{path}: invalid notebook JSON: lists or objects nested too deeply to read; "
            "a notebook is a JSON object holding a list of cells"
        ) from None


def _version(path: Path, data: Any) -> tuple[int, int]:
    if not isinstance(data, dict):
        raise NotebookError(f"{path}: not a notebook (the JSON is not an object)")
    major, minor = data.get("nbformat"), data.get("nbformat_minor", 0)
    if major is None:
        raise NotebookError(f"{path}: not a notebook (no 'nbformat' version)")
    for key, value in (("nbformat", major), ("nbformat_minor", minor)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise NotebookError(
                f"{path}: {key}: {_json(value)} is not a whole number; "
                f'write it without quotes, e.g. "{key}": {4 if key == "nbformat" else 5}'
            )
    if major not in (3, 4):
        raise NotebookError(
            f"{path}: notebook format {major} is not supported; "
            "save it with Jupyter 4 or later (nbformat 4)"
        )
    if major == 4 and not isinstance(data.get("cells"), list):
        raise NotebookError(f"{path}: not a notebook (no 'cells' list)")
    return major, minor


def _upgrade_v3(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """nbformat 3 → 4 with nbformat's converter, once the file is valid nbformat 3."""
    import nbformat

    _validate(path, data, (3, 0))
    try:
        upgraded = nbformat.convert(nbformat.from_dict(data), 4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # the converter's own failure: say so, not a traceback
        raise NotebookError(
            f"{path}: nbformat 3 notebook nbformat cannot upgrade ({type(exc).__name__}: "
            f"{exc}); open it in Jupyter and save it as nbformat 4"
        ) from None
    for cell in upgraded["cells"]:
        cell.pop("id", None)  # the converter's ids are random: give stable ones
    plain: dict[str, Any] = json.loads(json.dumps(upgraded))  # plain dicts, as from a file
    return plain


def _give_ids(data: dict[str, Any]) -> None:
    """Cells without an id, or repeating an earlier cell's, get one made from their
    type and source (nbformat 4.5)."""
    cells = data.get("cells")
    if not isinstance(cells, list):
        return
    taken = {c["id"] for c in cells if isinstance(c, dict) and isinstance(c.get("id"), str)}
    seen: set[str] = set()
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        if "id" not in cell or cell["id"] in seen:  # nbformat would give a repeat a random id
            cell["id"] = _new_id(cell, taken)
            taken.add(cell["id"])
        if isinstance(cell["id"], str):
            seen.add(cell["id"])
    if data.get("nbformat_minor", 0) < CURRENT_MINOR:
        data["nbformat_minor"] = CURRENT_MINOR


def _new_id(cell: dict[str, Any], taken: set[str]) -> str:
    text = multiline_text(cell.get("source"))
    base = hashlib.sha256(f"{cell.get('cell_type')}\0{text}".encode()).hexdigest()[:8]
    new, n = base, 1
    while new in taken:
        n += 1
        new = f"{base}-{n}"
    return new


@functools.cache
def nbformat_check(major: int, minor: int) -> Callable[[Any], Any] | None:
    """fastjsonschema's check of nbformat's own schema file for that version, as
    nbformat's validator builds it (engine/papermill_load.py hands it to nbformat,
    which papermill validates with); None for a version whose file is not there (a
    notebook from a newer nbformat: nbformat's validator relaxes its schema)."""
    spec = importlib.util.find_spec("nbformat")  # finds the package, runs none of it
    if spec is None or not spec.submodule_search_locations:
        return None
    name = "nbformat.v3.schema.json" if major == 3 else f"nbformat.v{major}.{minor}.schema.json"
    path = Path(list(spec.submodule_search_locations)[0]) / f"v{major}" / name
    if not path.is_file():
        return None
    return compiled_check(path.read_text("utf-8"))


def _validator(major: int, minor: int, name: str) -> Any:
    """nbformat's validator for that format (built once, cached by nbformat)."""
    from nbformat.validator import get_validator

    return get_validator(major, minor, name=name)  # type: ignore[no-untyped-call]


def _validate(path: Path, data: dict[str, Any], version: tuple[int, int] | None = None) -> None:
    major, minor = version or (data["nbformat"], data["nbformat_minor"])
    try:
        if (check := nbformat_check(major, minor)) is not None:
            check(data)
        else:
            _validator(major, minor, "fastjsonschema").validate(data)
        return
    except RecursionError:
        raise NotebookError(
            f"{path}: values nested too deeply to check; "
            "a notebook's metadata and outputs hold plain values"
        ) from None
    except Exception:  # invalid: find where with jsonschema
        pass
    from nbformat.validator import better_validation_error

    errors = (
        better_validation_error(e, major, minor)  # type: ignore[no-untyped-call]
        for e in _validator(major, minor, "jsonschema").iter_errors(data)
    )
    problems = _problems(path, errors, f"{major}.{minor}")
    if problems:
        raise NotebookError(problems)


def _problems(path: Path, errors: Iterable[Any], version: str) -> list[str]:
    found: dict[str, str] = {}
    for error in errors:
        where, message, fix = _describe(error, version)
        if where not in found and len(found) < MAX_PROBLEMS:
            found[where] = f"{path}: {where}: {message}; {fix}"
    return list(found.values())


def _describe(error: Any, version: str) -> tuple[str, str, str]:
    """(key path, problem, fix) for one jsonschema error."""
    keys = list(error.absolute_path)
    kind, value = error.validator, error.validator_value
    if kind == "required":
        missing = next((k for k in value if k not in error.instance), str(value))
        keys.append(missing)
        return _key_path(keys), "missing", _fix(keys, version)
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(k for k in error.instance if k not in error.schema.get("properties", {}))
        names = ", ".join(repr(k) for k in extra)
        return _key_path(keys), f"unexpected key {names}", f"remove {names}"
    where = _key_path(keys)
    shown = _json(error.instance)
    if _is_cell(keys) and not isinstance(error.instance, dict):
        return where, f"{shown} is not a cell", "remove it from the 'cells' list"
    if kind == "type":
        return where, f"{shown} is not {_kind(value)}", _fix(keys, version)
    if kind in ("oneOf", "anyOf"):
        kinds = [_kind(c.validator_value) for c in error.context or () if c.validator == "type"]
        expected = " or ".join(dict.fromkeys(kinds)) or f"what nbformat {version} allows"
        return where, f"{shown} is not {expected}", _fix(keys, version)
    return where, str(error.message), _fix(keys, version)


def _is_cell(keys: list[Any]) -> bool:
    return len(keys) == 2 and keys[0] == "cells" and isinstance(keys[1], int)


FIXES = {
    "source": 'give the cell its text: "source": "" (a string or a list of strings)',
    "metadata": 'add "metadata": {}',
    "kernelspec": 'remove "kernelspec", or write {"name": "python3", "display_name": "Python 3"}',
    "outputs": 'add "outputs": [] (a code cell\'s outputs list)',
    "execution_count": 'add "execution_count": null',
    "cell_type": 'add "cell_type": "code" (or "markdown", "raw")',
}


def _fix(keys: list[Any], version: str) -> str:
    last = keys[-1] if keys else None
    if isinstance(last, str) and last in FIXES:
        return FIXES[last]
    return f"correct it as nbformat {version} describes ({FORMAT_DOC})"


def _key_path(keys: list[Any]) -> str:
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "the notebook"


def _kind(schema_type: Any) -> str:
    names = {
        "object": "an object",
        "array": "a list",
        "string": "a string",
        "integer": "a whole number",
        "number": "a number",
        "boolean": "true or false",
        "null": "null",
    }
    if isinstance(schema_type, list):
        return " or ".join(names.get(t, str(t)) for t in schema_type)
    return names.get(schema_type, str(schema_type))


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
