"""Cells whose outputs changed between two executed notebooks: matched by id, else
by position; text diffed, rich outputs named."""

from __future__ import annotations

import copy
from typing import Any

from nbflow.report.notebook_diff import CellChange, diff_cells


def cell(source: str, outputs: list[dict[str, Any]], cell_id: str | None = None) -> dict[str, Any]:
    found = {"cell_type": "code", "metadata": {}, "source": source, "outputs": outputs}
    return found | ({"id": cell_id} if cell_id else {})


def stdout(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def notebook(*cells: dict[str, Any], minor: int = 5) -> dict[str, Any]:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": minor}


def test_cells_with_ids_are_matched_by_id_when_one_is_inserted_above() -> None:
    before = notebook(cell("a", [stdout("1\n")], "a"), cell("b", [stdout("2\n")], "b"))
    after = notebook(
        cell("new", [stdout("0\n")], "n"), cell("a", [stdout("1\n")], "a"), cell("b", [], "b")
    )
    assert diff_cells(before, after) == [
        CellChange("cell 0 (id n)", "added", ("+ 0",)),
        CellChange("cell 2 (id b)", "changed", ("- 2",)),
    ]


def test_nbformat_4_4_cells_without_ids_are_matched_by_position() -> None:
    before = notebook(cell("a", [stdout("1\n")]), cell("b", [stdout("2\n")]), minor=4)
    after = notebook(cell("a", [stdout("1\n")]), cell("b", [stdout("3\n")]), minor=4)
    assert diff_cells(before, after) == [CellChange("cell 1", "changed", ("- 2", "+ 3"))]


def test_a_cell_only_the_first_notebook_has_is_removed() -> None:
    before = notebook(cell("a", [stdout("1\n")]), cell("b", [stdout("2\n")]), minor=4)
    after = notebook(cell("a", [stdout("1\n")]), minor=4)
    assert diff_cells(before, after) == [CellChange("cell 1", "removed", ("- 2",))]


def test_an_error_is_its_name_and_message_not_its_traceback() -> None:
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["x"]}
    before = notebook(cell("a", [stdout("ok\n")], "a"))
    after = notebook(cell("a", [error], "a"))
    assert diff_cells(before, after) == [
        CellChange("cell 0 (id a)", "changed", ("- ok", "+ ValueError: bad"))
    ]
    moved = copy.deepcopy(after)
    moved["cells"][0]["outputs"][0]["traceback"] = ["y"]
    assert diff_cells(after, moved) == []


def test_rich_outputs_are_named_with_their_size_and_text_forms_shown() -> None:
    def shown(png: str, html: str) -> dict[str, Any]:
        data = {"image/png": png, "text/html": html, "text/plain": "<Figure>"}
        return {"output_type": "display_data", "data": data, "metadata": {}}

    before = notebook(cell("a", [shown("AAAA", "<b>1</b>")], "a"))
    after = notebook(cell("a", [shown("AAAA", "<b>2</b>")], "a"))
    [change] = diff_cells(before, after)
    assert change.lines[0].startswith("- [text/html, 8 bytes, ")
    assert change.lines[1].startswith("+ [text/html, 8 bytes, ")
    assert "AAAA" not in "".join(change.lines)


def test_execution_counts_and_metadata_do_not_count() -> None:
    result = {"output_type": "execute_result", "data": {"text/plain": "42"}, "metadata": {}}
    before = notebook(cell("a", [{**result, "execution_count": 1}], "a"))
    after = notebook(cell("a", [{**result, "execution_count": 7, "metadata": {"x": 1}}], "a"))
    assert diff_cells(before, after) == []


def test_the_injected_parameters_cell_is_matched_whatever_its_id() -> None:
    def injected(source: str, cell_id: str) -> dict[str, Any]:
        found = cell(source, [], cell_id)
        found["metadata"] = {"tags": ["injected-parameters"]}
        return found

    before = notebook(injected("n = 1\n", "injected-parameters"))
    after = notebook(injected("n = 2\n", "random-id"))
    assert diff_cells(before, after) == [
        CellChange("parameters", "changed", ("- n = 1", "+ n = 2"))
    ]
