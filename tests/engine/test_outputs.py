"""Step outputs: ``nbflow.record`` outside a kernel and reading them back from a
saved notebook (inside a kernel, see test_runner's chain)."""

from __future__ import annotations

from typing import Any

import pytest

import nbflow
from nbflow.engine import outputs
from nbflow.engine.outputs import OUTPUT_MIME, read_outputs, record


def _bundle_cell(*bundles: dict[str, Any], cell_type: str = "code") -> dict[str, Any]:
    return {
        "cell_type": cell_type,
        "outputs": [
            {"output_type": "display_data", "data": {OUTPUT_MIME: b, "text/plain": "x"}}
            for b in bundles
        ],
    }


def test_record_outside_ipython_keeps_the_value_and_returns_nothing() -> None:
    """Nothing returned: a cell ending in ``nbflow.record(...)`` shows no ``Out[]``."""
    value = {"rows": [1, 2], "ok": True}

    assert nbflow.record("summary", value) is None  # type: ignore[func-returns-value]
    assert outputs._recorded["summary"] == {"rows": [1, 2], "ok": True}


def test_nbflow_record_stays_the_function_after_the_record_module_is_imported() -> None:
    import nbflow.run_record  # noqa: F401  (what the engine, report and store import)

    assert callable(nbflow.record)


def test_record_rejects_a_name_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError) as exc:
        record("row count", 1)
    assert str(exc.value) == "output name must be an identifier, got 'row count'"


def test_record_rejects_a_value_that_is_not_json() -> None:
    with pytest.raises(TypeError) as exc:
        record("when", object)
    assert str(exc.value) == (
        "nbflow.record('when', ...): value is not JSON-serialisable "
        "(Object of type type is not JSON serializable); "
        "convert it first, e.g. with int(), float(), str() or .tolist()"
    )


@pytest.mark.parametrize("value", [float("nan"), [1.0, float("inf")], {"x": -float("inf")}])
def test_record_of_nan_says_what_to_record_instead(value: Any) -> None:
    with pytest.raises(ValueError) as exc:
        record("ratio", value)
    assert str(exc.value) == (
        "nbflow.record('ratio', ...): the value holds NaN or infinity, which JSON cannot "
        "hold; record None for a missing number (`None if math.isnan(x) else x`; pandas: "
        "`df.replace({np.nan: None})`) or text such as str(x)"
    )


def test_read_outputs_takes_the_last_record_of_a_name() -> None:
    notebook = {
        "cells": [
            _bundle_cell({"name": "rows", "value": 1}, {"name": "label", "value": "a"}),
            {"cell_type": "markdown", "source": "text"},
            {"cell_type": "code", "outputs": [{"output_type": "stream", "text": "hi"}]},
            _bundle_cell({"name": "rows", "value": 2}),
            _bundle_cell({"name": "ignored", "value": 3}, cell_type="raw"),
        ]
    }

    assert read_outputs(notebook) == {"rows": 2, "label": "a"}
    assert read_outputs({}) == {}
