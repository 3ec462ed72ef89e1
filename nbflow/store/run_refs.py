"""Two runs named on the command line (``nbflow diff RUN_A RUN_B``): by id, by the
path of their folder, or as ``latest`` / ``previous``.

Design decisions:

- Runs are read from the working tree's run folders: ``diff`` reads their notebooks.
- ``latest`` is the newest run of the other run's workflow (when the other is named
  by id or path), else of any workflow; ``previous`` is the run of the same workflow
  started just before the other one. So ``previous latest`` is "what the last run
  changed", and ``previous RUN`` what RUN changed.
"""

from __future__ import annotations

from pathlib import Path

from nbflow.errors import UsageError
from nbflow.run_record import RunRecord
from nbflow.store.runs import RECORD_FILE, find_run, iter_run_dirs, latest_run, read_record

__all__ = ["LATEST", "PREVIOUS", "resolve_runs"]

LATEST, PREVIOUS = "latest", "previous"

Run = tuple[Path, RunRecord]


def resolve_runs(runs_dir: Path, first: str, second: str) -> tuple[Run, Run]:
    """The folders and records of the runs ``first`` and ``second`` name."""
    if first == second == PREVIOUS:
        raise UsageError("`previous` is the run before the other one: name the other run")
    concrete = {ref: _named(runs_dir, ref) for ref in (first, second) if ref not in _SYMBOLS}
    workflow = next((run[1].workflow for run in concrete.values()), None)
    for ref in (first, second):
        if ref == LATEST:
            concrete[ref] = _read(latest_run(runs_dir, workflow))
    if PREVIOUS in (first, second):
        other = concrete[second if first == PREVIOUS else first]
        concrete[PREVIOUS] = _previous(runs_dir, other)
    return concrete[first], concrete[second]


_SYMBOLS = (LATEST, PREVIOUS)


def _named(runs_dir: Path, ref: str) -> Run:
    """A run by its folder's path, or by its id."""
    path = Path(ref)
    if path.is_dir() or "/" in ref or ref in (".", ".."):
        if not (path / RECORD_FILE).is_file():
            raise UsageError(
                f"{ref} is not a run folder (it has no {RECORD_FILE}); "
                "give a run id, a run folder, latest or previous"
            )
        return _read(path)
    return _read(find_run(runs_dir, ref))


def _previous(runs_dir: Path, run: Run) -> Run:
    """The run of ``run``'s workflow started just before it."""
    record = run[1]
    earlier = [
        (folder, other)
        for folder, other in map(_read, iter_run_dirs(runs_dir, record.workflow))
        if other.run_id != record.run_id
        and (other.start, other.run_id) < (record.start, record.run_id)
    ]
    if not earlier:
        raise UsageError(
            f"run {record.run_id} is the first run of {record.workflow}: nothing before it"
        )
    return max(earlier, key=lambda found: (found[1].start, found[1].run_id))


def _read(folder: Path) -> Run:
    try:
        return folder, read_record(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read the run record {folder / RECORD_FILE}: {exc}") from exc
