"""The run record: the machine-readable summary of a run, stored as ``run.json``.

Plain dataclasses with a stable JSON form. The engine fills them in, the store
writes and reads them, the report renders them. Times are ISO 8601 strings in UTC
so a record read back is equal to the one written.
"""

from __future__ import annotations

import functools
import json
from dataclasses import KW_ONLY, asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

RECORD_VERSION = 1
#: What a run's seed fixes: two records agreeing on these are attempts of one run.
SEED_KEYS = ("workflow", "run_id", "start", "trigger", "commit", "parameters")
#: How the reason of a step that ran though not selected starts (engine/reuse.py): its
#: latest result could not stand in for it.
RUN_THOUGH_NOT_SELECTED = "run though not selected"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    CACHED = "cached"  # not executed: an earlier run's result, unchanged, is reused

    @property
    def is_final(self) -> bool:
        return self not in (StepStatus.PENDING, StepStatus.RUNNING)

    @property
    def is_done(self) -> bool:
        """Its outputs are there for the steps that need it (succeeded or cached)."""
        return self in (StepStatus.SUCCEEDED, StepStatus.CACHED)


def utc_now() -> str:
    """The current time as the record stores it."""
    return iso_utc(datetime.now(UTC))


def iso_utc(moment: datetime) -> str:
    """``moment`` as the record stores times: ISO 8601 in UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def seconds_between(start: str, end: str) -> float:
    """The seconds from ``start`` to ``end`` (record times), to the millisecond."""
    return round((parse_time(end) - parse_time(start)).total_seconds(), 3)


@dataclass(frozen=True)
class StepError:
    """Why a step failed: the failing cell (0-based index among all cells, None
    when no cell was running, e.g. a timeout before start) and the exception."""

    ename: str
    evalue: str
    cell: int | None = None
    traceback: str = ""

    @property
    def summary(self) -> str:
        where = f"cell {self.cell}: " if self.cell is not None else ""
        return f"{where}{self.ename}: {self.evalue}"


@dataclass(frozen=True)
class Attempt:
    number: int
    start: str
    end: str
    duration: float
    status: StepStatus
    error: StepError | None = None


def _is_label(value: str) -> bool:
    return 0 < len(value) <= 40 and not value.isdigit() and not set(value) & set("[]\n")


@dataclass(frozen=True, kw_only=True)
class ExecutionRecord:
    """What a step and an item of a ``foreach:`` step both record: how their notebook ran.

    Each subclass lists its keys in ``_JSON_KEYS``, in the order ``run.json`` has
    always had them: dataclass inheritance puts these shared fields first, and
    ``to_json`` puts them back so records stay byte-identical across versions.
    """

    status: StepStatus = StepStatus.PENDING
    notebook: str = ""  # the executed notebook, relative to the run folder
    parameters: dict[str, Any] = field(default_factory=dict)
    attempts: tuple[Attempt, ...] = ()
    start: str | None = None
    end: str | None = None
    duration: float | None = None
    error: StepError | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why skipped, cancelled or cached
    fingerprint: str | None = None  # what the result depends on (engine/fingerprint.py)
    cached_from: str | None = None  # "<run-id>/<notebook>" a cached result reuses
    # Volatile notebook metadata (papermill and nbclient timestamps, durations)
    # moved out of the executed notebook so it diffs cleanly; see store/notebooks.py.
    timings: dict[str, Any] = field(default_factory=dict)
    #: its HTML copy beside the notebook (``report: {html: true}``), relative to the run
    #: folder; "" when none was written (then left out of ``run.json``)
    html: str = ""

    _JSON_KEYS: ClassVar[tuple[str, ...]]

    def to_json(self) -> dict[str, Any]:
        return self._in_json_order(asdict(self))

    @classmethod
    def _in_json_order(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A record's ``asdict`` form with its keys in ``run.json`` order (``html`` only
        when there is one, so records without HTML stay byte-identical)."""
        ordered = {key: data[key] for key in cls._JSON_KEYS}
        if not ordered["html"]:
            del ordered["html"]
        return ordered

    @classmethod
    def _values_from_json(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The fields of ``cls`` found in ``data`` (unknown keys are ignored), the
        shared ones typed."""
        known = _field_names(cls)
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = _step_status(data["status"])
        values["attempts"] = _attempts_from_json(data)
        values["error"] = _error_from_json(data.get("error"))
        return values


@dataclass(frozen=True)
class ItemRecord(ExecutionRecord):
    """One item of a ``foreach:`` step: its own notebook (``<step>.<index>.ipynb``),
    parameters, attempts, outputs and fingerprint."""

    index: int
    value: Any

    _JSON_KEYS: ClassVar[tuple[str, ...]] = (
        "index", "value", "status", "notebook", "parameters", "attempts", "start", "end",
        "duration", "error", "outputs", "reason", "timings", "fingerprint", "cached_from", "html",
    )  # fmt: skip

    def label(self, step_id: str) -> str:
        """``region[eu]`` for a short one-line string item, ``fit[model=svc,depth=1]``
        for a grid's, else ``region[0]`` (its position: a number in brackets is always
        the position). See :func:`item_name`."""
        return f"{step_id}[{item_name(self.index, self.value)}]"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemRecord:
        """An item record from its JSON form (unknown keys are ignored)."""
        return cls(**cls._values_from_json(data))


def item_name(index: int, value: Any) -> str:
    """How an item is named to people: its value when a short one-line string; for a
    mapping of short plain values (a grid's item), its keys and values,
    ``model=svc,depth=1``; else its position."""
    if isinstance(value, str) and _is_label(value):
        return value
    if isinstance(value, dict) and value:
        pairs = [f"{key}={_plain(v)}" for key, v in value.items()]
        name = ",".join(pairs)
        if len(name) <= 80 and all(_is_pair(key, v) for key, v in value.items()):
            return name
    return str(index)


def _plain(value: Any) -> str:
    """A plain value as YAML would show it: ``svc``, ``1``, ``0.5``, ``true``, ``null``."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def _is_pair(key: Any, value: Any) -> bool:
    plain = isinstance(value, str | int | float) or value is None
    shown = _plain(value)
    return plain and isinstance(key, str) and not set(key + shown) & set("[]\n,=") and bool(shown)


@dataclass(frozen=True)
class StepRecord(ExecutionRecord):
    """One step of a run: its executed notebook, or a ``foreach:`` step's items."""

    id: str
    _: KW_ONLY
    needs: tuple[str, ...] = ()
    source_notebook: str = ""  # the input notebook, relative to the workflow folder
    kernel: str = ""  # the kernel it runs in, as jupyter_client names it ("": not recorded)
    #: The nbformat version of a source notebook upgraded in memory to run ("3.0"), or "".
    upgraded_from: str = ""
    #: A ``foreach:`` step's items, in item order; empty for a step that runs once.
    #: Its ``outputs`` then map each output name to the list of the items' values.
    items: tuple[ItemRecord, ...] = ()

    _JSON_KEYS: ClassVar[tuple[str, ...]] = (
        "id", "status", "needs", "notebook", "source_notebook", "kernel", "upgraded_from",
        "parameters", "attempts",
        "start", "end", "duration", "error", "outputs", "reason", "fingerprint", "cached_from",
        "timings", "html", "items",
    )  # fmt: skip

    @classmethod
    def _in_json_order(cls, data: dict[str, Any]) -> dict[str, Any]:
        items = tuple(ItemRecord._in_json_order(item) for item in data["items"])
        ordered = {**super()._in_json_order(data), "items": items}
        for key in ("kernel", "upgraded_from"):  # left out when empty, as in older records
            if not ordered[key]:
                del ordered[key]
        return ordered

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRecord:
        """A step record from its JSON form (unknown keys are ignored)."""
        values = cls._values_from_json(data)
        values["needs"] = tuple(data.get("needs", ()))
        items = data.get("items")
        values["items"] = tuple(ItemRecord.from_json(i) for i in items) if items else ()
        return cls(**values)


@dataclass(frozen=True)
class SlaMiss:
    """A run (``step`` None) or a step still going past its ``sla:`` (seconds), seen
    ``at`` that moment; the notification is sent once per miss."""

    step: str | None
    sla: float
    at: str

    @property
    def what(self) -> str:
        """``the run`` or ``step 'load'``."""
        return "the run" if self.step is None else f"step '{self.step}'"


@dataclass(frozen=True)
class RunRecord:
    workflow: str
    run_id: str
    status: RunStatus
    trigger: str
    start: str
    end: str | None = None
    duration: float | None = None
    commit: str | None = None
    #: The paths relative to the repository that differed from ``commit`` when the
    #: run started (store/provenance.py); in ``run.json`` only when there are some.
    uncommitted: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    steps: tuple[StepRecord, ...] = ()
    manifest: str = ""  # the manifest, relative to the project root
    pid: int | None = None  # the process running it, to tell an interrupted run
    version: int = RECORD_VERSION
    #: The moment the run is for: a schedule tick (a scheduled, caught-up or backfill
    #: run), else its start. ``default: today``/``now`` resolve from it. Always written
    #: since logical time exists; None only in older records (:attr:`logical` is then
    #: the start).
    logical_time: str | None = None
    #: SLAs exceeded while the run went on; in ``run.json`` only when there are some.
    sla_misses: tuple[SlaMiss, ...] = ()

    def step(self, step_id: str) -> StepRecord:
        return self._steps_by_id[step_id]

    @functools.cached_property
    def _steps_by_id(self) -> dict[str, StepRecord]:
        return {step.id: step for step in self.steps}

    @property
    def logical(self) -> str:
        """The logical time (ISO 8601, UTC); an older record's: its start."""
        return self.logical_time or self.start

    @property
    def run_context(self) -> dict[str, str]:
        """What ``${{ run.id }}`` and ``${{ run.date }}`` (the logical date) resolve to."""
        return {"id": self.run_id, "date": self.logical[:10]}

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        return {step.id: i for i, step in enumerate(self.steps)}

    def with_step(self, updated: StepRecord) -> RunRecord:
        """A copy with one step record replaced (its lookups made from this record's:
        a running run replaces a step after every change, and looking its steps up
        again from scratch would make each change O(steps))."""
        position = self._positions.get(updated.id)
        if position is None:
            return replace(self)
        steps = (*self.steps[:position], updated, *self.steps[position + 1 :])
        copy = replace(self, steps=steps)
        copy.__dict__["_positions"] = self._positions  # the same steps, in the same order
        copy.__dict__["_steps_by_id"] = {**self._steps_by_id, updated.id: updated}
        return copy

    def count(self, status: StepStatus) -> int:
        return sum(1 for s in self.steps if s.status == status)

    def count_done(self) -> int:
        """Steps whose outputs are there: succeeded, or cached from an earlier run."""
        return sum(1 for s in self.steps if s.status.is_done)

    @property
    def is_dirty(self) -> bool:
        """Whether the run started from uncommitted changes to its inputs."""
        return bool(self.uncommitted)

    def to_json(self) -> dict[str, Any]:
        return self.json_with_steps(tuple(step.to_json() for step in self.steps))

    def json_with_steps(self, steps: Any) -> dict[str, Any]:
        """The record's JSON form with ``steps`` as the value of its ``steps`` key (the
        steps' own JSON forms give :meth:`to_json`; store/record_text.py gives the text
        it keeps for each step, so a save serialises only the steps that changed)."""
        data = asdict(replace(self, steps=()))
        uncommitted, logical = data.pop("uncommitted"), data.pop("logical_time")
        if not data["sla_misses"]:
            del data["sla_misses"]
        data = {**data, "steps": steps}
        if logical is not None:  # after the start; an older record is read back as it was
            data = _insert_after(data, "start", {"logical_time": logical})
        if not uncommitted:
            return data  # a clean run's record is what it always was, to the byte
        return _insert_after(data, "commit", {"dirty": True, "uncommitted": list(uncommitted)})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        steps = tuple(StepRecord.from_json(s) for s in data.get("steps", ()))
        known = _field_names(cls)
        values = {k: v for k, v in data.items() if k in known and k != "steps"}
        values["status"] = RunStatus(values["status"])
        values["uncommitted"] = tuple(data.get("uncommitted", ()))
        values["sla_misses"] = tuple(SlaMiss(**m) for m in data.get("sla_misses", ()))
        return cls(**values, steps=steps)


def _insert_after(data: dict[str, Any], key: str, extra: dict[str, Any]) -> dict[str, Any]:
    keys = list(data)
    at = keys.index(key) + 1
    return {**{k: data[k] for k in keys[:at]}, **extra, **{k: data[k] for k in keys[at:]}}


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    """The names of a record class's fields (found once: ``fields`` is slow, and a
    history of 10,000 runs reads 10,000 records)."""
    if cls not in _FIELD_NAMES:
        _FIELD_NAMES[cls] = frozenset(f.name for f in fields(cls))
    return _FIELD_NAMES[cls]


def _error_from_json(data: dict[str, Any] | None) -> StepError | None:
    return StepError(**data) if data else None


def _attempts_from_json(data: dict[str, Any]) -> tuple[Attempt, ...]:
    return tuple(
        Attempt(
            a["number"],
            a["start"],
            a["end"],
            a["duration"],
            _step_status(a["status"]),
            _error_from_json(a.get("error")),
        )
        for a in data.get("attempts", ())
    )


_STEP_STATUSES = {status.value: status for status in StepStatus}


def _step_status(value: Any) -> StepStatus:
    """``StepStatus(value)``, looked up in a dict first: an enum call is slow, and a
    history of 10,000 runs holds hundreds of thousands of statuses."""
    found = _STEP_STATUSES.get(value) if isinstance(value, str) else None
    return found or StepStatus(value)
