"""Pieces: what a step run apart from the others leaves behind, for ``nbflow assemble``.

When each step of a run executes in its own job (a GitHub Actions job, an Airflow
task, a Kubernetes job), jobs share no run folder; they pass folders of files:

- ``run.json``, the **seed**: the run record as the run starts (``nbflow run WORKFLOW
  --plan``): run id, resolved parameters, start time, trigger, commit, every step
  pending; plus ``command_line``: the workflow parameters given on the command line
  (by name: they beat a step's ``parameters:``) and the ``-p STEP.NAME`` overrides.
  Every job reads the same seed, so every step sees the same parameters, ``today``
  and ``${{ run.id }}``.
- ``<step>.json``, a **piece**: that step's record, exactly as ``run.json`` lists it
  under ``steps`` (status, attempts, injected parameters, outputs, error), plus
  ``workflow`` and ``run_id`` to tell pieces of another run.
- ``<step>.ipynb``: its executed notebook (absent when no kernel ever ran it); for a
  ``foreach:`` step, ``<step>.<N>.ipynb`` for each item instead.
- ``<step>.part-<N>.json``, a **part**: when the items of a ``foreach:`` step are
  shared out between jobs (``--item``, a GitHub matrix), each job leaves the step's
  record with its own items final and the others pending, named after its first
  item, plus ``output_names`` (what the step records, for the outputs of the whole
  step). ``read_pieces`` joins the parts of a step into one piece.
- ``files/<step>/``: the files the step wrote that its ``produces:`` globs match, by
  path relative to the workflow folder. Jobs run in clean checkouts, so this is how a
  file one step writes reaches the steps that read it: ``run_step`` restores the
  ``files/`` of every step it needs into the workflow folder before executing. A
  folder per step, because engines merge the pieces of many steps into one folder
  (GitHub's ``merge-multiple``) and a step gets only the files of the steps it needs.
  Restoring never writes outside the workflow folder; ``nbflow assemble`` ignores
  these files (produced data is not committed with the run).

Pieces are plain files so any engine can move them: artifacts, a bucket, a volume.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nbflow.errors import UsageError
from nbflow.run_record import RunRecord, StepRecord
from nbflow.store.piece_schema import check_shape
from nbflow.store.runs import RECORD_FILE, write_atomic

SEED_FILE = RECORD_FILE
FILES_DIR = "files"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seed:
    """A run as it starts, and what its command line set."""

    record: RunRecord
    given: tuple[str, ...] = ()  # workflow parameters set on the command line
    step_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Piece:
    step: StepRecord
    notebook: Path | None  # the executed notebook, when there is one
    items: tuple[Path, ...] = ()  # a foreach step's item notebooks that exist
    output_names: tuple[str, ...] | None = None  # parts joined: the step still to settle
    #: The steps it needs, directly or not, as its job received them (no timings):
    #: what it ran with, and a record of them should their own pieces be lost.
    upstream: Mapping[str, StepRecord] = field(default_factory=dict)
    path: Path | None = None  # the file it was read from (a part's, for joined parts)


def write_seed(folder: Path, seed: Seed) -> Path:
    data = seed.record.to_json()
    data["command_line"] = {
        "parameters": list(seed.given),
        "step_parameters": {k: dict(v) for k, v in seed.step_parameters.items()},
    }
    path = folder / SEED_FILE
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def read_seed(folders: Sequence[Path]) -> Seed:
    """The seed in ``folders`` (the first one found; all must be the same run)."""
    seeds = [_load_seed(f / SEED_FILE) for f in folders if (f / SEED_FILE).is_file()]
    if not seeds:
        where = ", ".join(str(f) for f in folders)
        raise UsageError(
            f"no {SEED_FILE} in {where}: create the run's seed with "
            "`nbflow run WORKFLOW --plan --outputs DIR` and pass that folder"
        )
    ids = sorted({s.record.run_id for s in seeds})
    if len(ids) > 1:
        raise UsageError(f"seeds of different runs given: {', '.join(ids)}")
    return seeds[0]


def _load_seed(path: Path) -> Seed:
    data = _read_json(path, "seed")
    command_line = data.get("command_line", {})
    return Seed(
        RunRecord.from_json(data),
        tuple(command_line.get("parameters", ())),
        command_line.get("step_parameters", {}),
    )


def _read_json(path: Path, kind: str) -> Any:
    """The JSON in ``path``, checked to be a ``kind`` ("seed" or "piece")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from None
    check_shape(path, data, kind)
    return data


def write_piece(
    folder: Path,
    record: RunRecord,
    step: StepRecord,
    notebook: Path | None,
    items: Sequence[Path] = (),
    *,
    part: tuple[int, Sequence[str]] | None = None,
    upstream: Mapping[str, StepRecord] | None = None,
) -> Path:
    """Write ``step``'s piece (and copy its executed notebook, or a foreach step's
    item notebooks ``items``) into ``folder``; with ``part`` (its first item, the
    step's output names), a part of a foreach step's items; with ``upstream``, the
    records of the steps it ran after."""
    folder.mkdir(parents=True, exist_ok=True)
    if notebook is not None and notebook.is_file():
        copy_notebook(notebook, folder / f"{step.id}.ipynb")
    for item in items:
        if item.is_file():
            copy_notebook(item, folder / item.name)
    data = {"workflow": record.workflow, "run_id": record.run_id, **step.to_json()}
    if upstream:
        data["upstream"] = {k: _without_timings(v.to_json()) for k, v in upstream.items()}
    path = folder / f"{step.id}.json"
    if part is not None:
        data["output_names"] = list(part[1])
        path = folder / f"{step.id}.part-{part[0]}.json"
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def copy_notebook(source: Path, target: Path) -> None:
    """Copy an executed notebook, and its HTML copy beside it when there is one
    (``report: {html: true}``): the two travel together."""
    shutil.copyfile(source, target)
    html = source.with_suffix(".html")
    if html.is_file():
        shutil.copyfile(html, target.with_suffix(".html"))


def _without_timings(step: dict[str, Any]) -> dict[str, Any]:
    items = [{**i, "timings": {}} for i in step["items"]]
    return {**step, "timings": {}, "items": items}


def read_pieces(folders: Sequence[Path], record: RunRecord) -> dict[str, Piece]:
    """The pieces of ``record``'s steps found in ``folders``, by step id; the parts of
    a step, when it has no whole piece, joined into one (``output_names`` set: the
    caller settles the step once every item is final).

    When two files hold the same step (or two parts the same item) with different
    content, the one in the folder given first wins (within a folder, parts in the
    order of their numbers), with a warning naming both: the same rule as for the
    files pieces carry (``restore_files``). A piece of another run of the workflow
    (left by an earlier attempt: "Re-run all jobs" plans a new run) is left out, with
    a warning.
    """
    found: dict[str, Piece] = {}
    unique = list(dict.fromkeys(f.resolve() for f in folders))
    for step in record.steps:
        whole = _of_run([f / f"{step.id}.json" for f in unique], record)
        parts = _of_run([p for f in unique for p in _parts(f, step.id)], record)
        if whole:
            for other, _ in [*whole[1:], *parts]:
                _warn_conflict(step.id, whole[0][0], other)
            found[step.id] = whole[0][1]
        elif parts:
            found[step.id] = _joined([piece for _, piece in parts])
    return found


def _of_run(paths: Sequence[Path], record: RunRecord) -> list[tuple[Path, Piece]]:
    """The pieces at ``paths`` that exist and are of ``record``'s run."""
    pieces = []
    for path in paths:
        piece = _load_piece(path, record) if path.is_file() else None
        if piece is not None:
            pieces.append((path, piece))
    return pieces


def _parts(folder: Path, step_id: str) -> list[Path]:
    """The parts of ``step_id`` in ``folder``, by number (``part-2`` before ``part-10``)."""
    found = []
    for path in folder.glob(f"{step_id}.part-*.json"):
        number = path.name[len(step_id) + len(".part-") : -len(".json")]
        if number.isdecimal():
            found.append((int(number), path))
    return [path for _, path in sorted(found)]


def _warn_conflict(step_id: str, chosen: Path, other: Path, item: str = "") -> None:
    if other.name == chosen.name and other.read_bytes() == chosen.read_bytes():
        return  # the same piece, passed twice
    what = f"item {item} of step '{step_id}'" if item else f"step '{step_id}'"
    log.warning(
        "%s and %s both hold %s: %s is used (the first folder given wins)",
        chosen,
        other,
        what,
        chosen.name if chosen.parent == other.parent else chosen,
    )


def _load_piece(path: Path, record: RunRecord) -> Piece | None:
    """The piece at ``path``; None (with a warning) when it is of another run of the
    workflow; UsageError when of another workflow, or not a piece."""
    data = _read_json(path, "piece")
    step = StepRecord.from_json(data)
    names = data.get("output_names")
    output_names = None if names is None else tuple(names)
    if data["workflow"] != record.workflow:
        raise UsageError(
            f"{path}: a piece of workflow '{data['workflow']}', not '{record.workflow}'"
        )
    if data["run_id"] != record.run_id:
        log.warning("%s: a piece of run %s, not %s: left out", path, data["run_id"], record.run_id)
        return None
    notebook = path.parent / f"{step.id}.ipynb"
    items = tuple(path.parent / i.notebook for i in step.items if i.notebook)
    upstream = {k: StepRecord.from_json(v) for k, v in data.get("upstream", {}).items()}
    return Piece(
        step,
        notebook if notebook.is_file() else None,
        tuple(p for p in items if p.is_file()),
        output_names,
        upstream,
        path,
    )


def _joined(parts: Sequence[Piece]) -> Piece:
    """One piece from the parts of a foreach step: each item as the first part that
    finished it left it (pending when none did), with that part's notebook."""
    items = {i.index: i for i in parts[0].step.items}
    chosen: dict[int, Piece] = {}
    for part in parts:
        for item in part.step.items:
            if not item.status.is_final or item.index not in items:
                continue
            first = chosen.setdefault(item.index, part)
            if first is part:
                items[item.index] = item
            elif items[item.index] != item and first.path and part.path:
                _warn_conflict(part.step.id, first.path, part.path, str(item.index))
    step = replace(parts[0].step, items=tuple(items[i] for i in sorted(items)))
    notebooks = [
        path
        for i in step.items
        if i.index in chosen
        for path in chosen[i.index].items
        if path.name == i.notebook
    ]
    upstream = {k: v for part in reversed(parts) for k, v in part.upstream.items()}
    return Piece(step, None, tuple(notebooks), parts[0].output_names or (), upstream, parts[0].path)


def write_files(
    folder: Path, step_id: str, workflow_dir: Path, paths: Iterable[str], *, fresh: bool = True
) -> list[str]:
    """Copy the files ``step_id`` produced (``paths``, relative to ``workflow_dir``) into
    its piece in ``folder``, replacing what an earlier piece held (unless not
    ``fresh``: a part of a foreach step's piece adds its items' files); the paths
    copied.

    A path leading outside the workflow folder (through ``..`` from a parameter's
    value, or a symbolic link) is left out, with a warning: no job could restore it.
    """
    target = folder / FILES_DIR / step_id
    if fresh:
        shutil.rmtree(target, ignore_errors=True)
    copied = []
    for path in paths:
        if not _is_inside(workflow_dir, path):
            log.warning(
                "%s: produced file %s is outside %s: not in its piece", step_id, path, workflow_dir
            )
            continue
        _copy(workflow_dir / path, target / path)
        copied.append(path)
    return copied


def restore_files(
    folders: Sequence[Path], step_ids: Sequence[str], workflow_dir: Path
) -> list[str]:
    """Copy into ``workflow_dir`` the files the pieces of ``step_ids`` carry; the paths
    restored. A later step's file replaces an earlier one's, and on the same path
    a step's file from an earlier folder wins, as its piece does in ``read_pieces``.

    Raises UsageError, writing nothing, when a file would land outside the workflow
    folder, or a piece holds a symbolic link.
    """
    copies: dict[str, Path] = {}
    for step_id in step_ids:
        for folder in reversed(folders):
            copies.update(_carried(folder / FILES_DIR / step_id, workflow_dir))
    for path, source in copies.items():
        _copy(source, workflow_dir / path)
    return list(copies)


def _carried(root: Path, workflow_dir: Path) -> dict[str, Path]:
    """The files under ``root`` (one step's ``files/``), by path relative to it."""
    found: dict[str, Path] = {}
    for parent, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            source = Path(parent, name)
            path = source.relative_to(root).as_posix()
            if source.is_symlink():
                raise UsageError(f"{source}: a symbolic link in a piece; pieces hold plain files")
            if not _is_inside(workflow_dir, path):
                raise UsageError(
                    f"{source}: restoring it would write {workflow_dir / path}, "
                    f"outside the workflow folder {workflow_dir}"
                )
            if name in files:
                found[path] = source
    return found


def _is_inside(workflow_dir: Path, path: str) -> bool:
    """Whether ``path`` (relative) stays in ``workflow_dir``, symbolic links followed."""
    root = workflow_dir.resolve()
    return (root / path).resolve().is_relative_to(root)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
