"""The run record's JSON form, ``run.json``: stable to the byte across versions.

tests/golden/run_record.json was written by nbflow before step and item records
shared a base class; it must keep loading to the same record and writing back to
the same bytes (UPDATE_GOLDEN=1 rewrites it: review that diff with care).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from helpers import GOLDEN, assert_golden

from nbflow.run_record import (
    Attempt,
    ExecutionRecord,
    ItemRecord,
    RunRecord,
    RunStatus,
    StepError,
    StepRecord,
    StepStatus,
)
from nbflow.store import runs

START, END = "2026-11-20T06:30:00.000Z", "2026-11-20T06:30:01.500Z"
ERROR = StepError("KeyError", "'amount'", 3, "Traceback ...")


def _attempt(number: int, error: StepError | None = None) -> Attempt:
    status = StepStatus.FAILED if error else StepStatus.SUCCEEDED
    return Attempt(number, START, END, 1.5, status, error)


def _item(index: int, value: object, **changes: object) -> ItemRecord:
    values: dict[str, object] = {
        "status": StepStatus.SUCCEEDED,
        "notebook": f"region.{index}.ipynb",
        "parameters": {"region": value},
        "attempts": (_attempt(1),),
        "start": START,
        "end": END,
        "duration": 1.5,
        "outputs": {"total": 10 * index},
        "timings": {"papermill": {"duration": 0.05}},
        "fingerprint": f"{index}" * 64,
        **changes,
    }
    return ItemRecord(index, value, **values)  # type: ignore[arg-type]


def _record() -> RunRecord:
    """A run of every kind of step and item: cached, retried, failed, skipped."""
    prepare = StepRecord(
        id="prepare",
        status=StepStatus.SUCCEEDED,
        notebook="prepare.ipynb",
        source_notebook="prepare.ipynb",
        parameters={"run_date": "2026-11-20"},
        attempts=(_attempt(1),),
        start=START,
        end=END,
        duration=1.5,
        outputs={"orders": 120, "regions": ["eu", "us", "apac"]},
        fingerprint="a" * 64,
        timings={"papermill": {"duration": 0.05}, "cells": [{"cell": 0}]},
    )
    items = (
        _item(0, "eu", status=StepStatus.CACHED, reason="unchanged since run x",
              cached_from="2026-11-19T063000Z-ab12/region.0.ipynb"),
        _item(1, "us", attempts=(_attempt(1, ERROR), _attempt(2))),
        _item(2, {"name": "apac"}, status=StepStatus.FAILED, error=ERROR, outputs={},
              attempts=(_attempt(1, ERROR),)),
    )  # fmt: skip
    region = StepRecord(
        id="region",
        status=StepStatus.FAILED,
        needs=("prepare",),
        source_notebook="region.ipynb",
        start=START,
        end=END,
        duration=1.5,
        error=ERROR,
        outputs={"total": [0, 10, None]},
        reason="1 of 3 items failed",
        fingerprint=None,
        items=items,
    )
    combine = StepRecord(
        id="combine",
        status=StepStatus.SKIPPED,
        needs=("region",),
        source_notebook="combine.ipynb",
        reason="needs region, which failed",
    )
    return RunRecord(
        workflow="regional-sales",
        run_id="2026-11-20T063000Z-cd34",
        status=RunStatus.FAILED,
        trigger="manual",
        start=START,
        end=END,
        duration=1.5,
        commit="0123456789abcdef0123456789abcdef01234567",
        parameters={"run_date": "2026-11-20", "regions": ["eu", "us", {"name": "apac"}]},
        steps=(prepare, region, combine),
        manifest="workflows/regional-sales/workflow.yaml",
        pid=4242,
    )


def test_a_record_with_items_is_written_as_the_golden_run_json(tmp_path: Path) -> None:
    runs.write_record(tmp_path, _record())

    assert_golden("run_record.json", (tmp_path / "run.json").read_text(encoding="utf-8"))


def test_golden_run_json_loads_and_dumps_to_the_same_bytes(tmp_path: Path) -> None:
    golden = (GOLDEN / "run_record.json").read_bytes()
    (tmp_path / "run.json").write_bytes(golden)

    record = runs.read_record(tmp_path)
    runs.write_record(tmp_path / "again", record)

    assert record == _record()
    assert (tmp_path / "again" / "run.json").read_bytes() == golden


def test_a_record_from_before_item_fingerprints_loads_with_defaults() -> None:
    """Records written before items had fingerprints, and steps timings, still load;
    keys nbflow does not know are ignored."""
    data = {
        "workflow": "w",
        "run_id": "2026-11-20T063000Z-cd34",
        "status": "succeeded",
        "trigger": "manual",
        "start": START,
        "steps": [
            {
                "id": "region",
                "status": "succeeded",
                "needs": ["prepare"],
                "retired": True,
                "items": [{"index": 0, "value": "eu", "status": "succeeded", "retired": 1}],
            }
        ],
        "retired": "x",
    }

    record = RunRecord.from_json(data)

    assert record.steps == (
        StepRecord(
            id="region",
            status=StepStatus.SUCCEEDED,
            needs=("prepare",),
            items=(ItemRecord(0, "eu", status=StepStatus.SUCCEEDED),),
        ),
    )
    assert record.version == 1


@pytest.mark.parametrize("cls", [ItemRecord, StepRecord])
def test_every_field_has_its_place_in_run_json(cls: type[ExecutionRecord]) -> None:
    assert sorted(cls._JSON_KEYS) == sorted(f.name for f in fields(cls))
