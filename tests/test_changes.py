"""The pure rules of nbflow/git/changes.py: no Git, no disk, model objects built by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbflow.git.changes import matches_input, select_steps, touched_steps
from nbflow.manifest.model import Source, Step, Workflow

FOLDER = "workflows/sales"


def workflow(*steps: tuple[str, tuple[str, ...], tuple[str, ...]]) -> Workflow:
    """A workflow from ``(id, needs, inputs)`` triples; notebooks are ``<id>.ipynb``."""
    here = Source(Path("workflow.yaml"), 1, 1)
    return Workflow(
        name="sales",
        manifest=Path(FOLDER) / "workflow.yaml",
        source=here,
        steps=tuple(Step(s, f"{s}.ipynb", here, needs, inputs=i) for s, needs, i in steps),
    )


# extract → transform → report, and extract → audit
SALES = workflow(
    ("extract", (), ("data/raw/${{ params.day }}/*.csv",)),
    ("transform", ("extract",), ()),
    ("report", ("transform",), ("reference/**",)),
    ("audit", ("extract",), ()),
)


def data(**changes: Any) -> dict[str, Any]:
    """The manifest's plain data, as YAML would give it, with top-level ``changes``."""
    base: dict[str, Any] = {
        "name": "sales",
        "parameters": {"day": {"type": "str", "default": "mon"}},
        "steps": [
            {"id": "extract", "notebook": "extract.ipynb"},
            {"id": "transform", "notebook": "transform.ipynb"},
            {"id": "report", "notebook": "report.ipynb"},
            {"id": "audit", "notebook": "audit.ipynb", "needs": ["extract"]},
        ],
    }
    return base | changes


USES = {"extract": {"day"}, "report": {"day"}}


def touched(changed: list[str], before: Any = None, after: Any = None) -> dict[str, str]:
    before = data() if before is None else before
    return touched_steps(SALES, FOLDER, changed, before, after or data(), USES)


def test_changed_notebook_touches_its_step() -> None:
    assert touched([f"{FOLDER}/transform.ipynb", "README.md"]) == {
        "transform": "notebook transform.ipynb changed"
    }


def test_input_pattern_with_an_expression_matches_like_a_star() -> None:
    assert touched([f"{FOLDER}/data/raw/tue/payments.csv"]) == {
        "extract": f"input {FOLDER}/data/raw/tue/payments.csv changed"
    }
    assert touched([f"{FOLDER}/data/raw/tue/deeper/payments.csv"]) == {}


def test_double_star_spans_folders() -> None:
    assert touched([f"{FOLDER}/reference/a/b/rates.json"]) == {
        "report": f"input {FOLDER}/reference/a/b/rates.json changed"
    }


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("data/*.csv", "data/a.csv", True),
        ("data/*.csv", "data/sub/a.csv", False),
        ("data", "data/sub/a.csv", True),  # a folder covers what it holds
        ("data/**/*.csv", "data/a.csv", True),
        ("data/**/*.csv", "data/x/y/a.csv", True),
        ("w/../shared/*.csv", "shared/a.csv", True),  # normalised, may leave the folder
        ("out_${{ run.date }}.csv", "out_2026-11-20.csv", True),
        ("data/?.csv", "data/ab.csv", False),
    ],
)
def test_matches_input(pattern: str, path: str, expected: bool) -> None:
    assert matches_input(pattern, path) is expected


def test_changed_step_entry_touches_that_step_only() -> None:
    after = data()
    after["steps"][1] = {"id": "transform", "notebook": "transform.ipynb", "retries": 2}
    assert touched([], after=after) == {"transform": "manifest entry changed"}


def test_inserting_a_step_above_changes_implicit_needs() -> None:
    after = data()
    after["steps"].insert(1, {"id": "clean", "notebook": "clean.ipynb"})
    # transform, written without needs, now needs clean instead of extract
    assert touched([], after=after) == {"transform": "manifest entry changed"}


def test_new_step_is_touched() -> None:
    before = data()
    del before["steps"][3]
    assert touched([], before=before) == {"audit": "new step"}


def test_changed_parameter_touches_the_steps_using_it() -> None:
    after = data(parameters={"day": {"type": "str", "default": "tue"}})
    assert touched([], after=after) == {
        "extract": "parameter day changed",
        "report": "parameter day changed",
    }


def test_changed_defaults_touch_every_step() -> None:
    assert set(touched([], after=data(defaults={"retries": 1}))) == {
        "extract",
        "transform",
        "report",
        "audit",
    }


def test_settings_that_change_no_result_touch_nothing() -> None:
    after = data(description="new words", on={"schedule": ["0 0 * * *"]}, notify={})
    assert touched([f"{FOLDER}/workflow.yaml"], after=after) == {}


def test_new_workflow_touches_every_step() -> None:
    result = touched_steps(SALES, FOLDER, [], None, data(), USES)
    assert result == dict.fromkeys(["extract", "transform", "report", "audit"], "new workflow")


def test_selection_adds_downstream_in_plan_order() -> None:
    assert select_steps(SALES, ["extract"], lambda s: True) == (
        "extract",
        "transform",
        "report",
        "audit",
    )
    assert select_steps(SALES, ["transform"], lambda s: True) == ("transform", "report")


def test_selection_adds_upstream_steps_without_an_earlier_run() -> None:
    assert select_steps(SALES, ["report"], lambda s: s != "extract") == ("extract", "report")
    assert select_steps(SALES, ["report"], lambda s: False) == ("extract", "transform", "report")
