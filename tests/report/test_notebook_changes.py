"""The report's "What changed in the notebooks" section, from real runs: the changed
cells, a few lines each, capped, linked, cut safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import two_runs

from nbflow.report import notebook_changes
from nbflow.report.notebook_changes import diff_with_previous, render_notebook_changes
from nbflow.report.run_report import render_report
from nbflow.store.runs import read_record


def test_the_second_run_shows_the_cells_that_changed_linked_to_its_notebook(
    project: Path,
) -> None:
    a, b = two_runs(project, "2", "3")
    diff = diff_with_previous(project / "runs", b, read_record(b))
    section = render_notebook_changes(diff)
    ids = [c["id"] for c in json.loads((b / "fit.ipynb").read_text())["cells"]]
    png = [line for line in section.splitlines() if "image/png" in line]
    assert section == (
        "## What changed in the notebooks\n\n"
        f"Compared with run `{a.name}`: 1 of 2 notebooks changed.\n\n"
        "**[`fit.ipynb`](fit.ipynb)** (`fit`): 3 cells changed\n\n"
        "parameters: values changed\n```diff\n- n = 2\n+ n = 3\n```\n\n"
        f"cell 2 (id {ids[2]}): outputs changed\n```diff\n- score 20\n+ score 30\n```\n\n"
        f"cell 4 (id {ids[4]}): outputs changed\n```diff\n{png[0]}\n{png[1]}\n```"
    )
    report = render_report(read_record(b), notebook_changes=diff)
    assert report.endswith(section + "\n")
    assert (b / "README.md").read_text(encoding="utf-8") == report  # the run wrote it so


def test_the_first_run_has_no_section(project: Path) -> None:
    a, _ = two_runs(project, "2", "3")
    assert diff_with_previous(project / "runs", a, read_record(a)) is None
    assert render_notebook_changes(None) == ""
    assert "What changed in the notebooks" not in render_report(read_record(a))
    assert "What changed in the notebooks" not in (a / "README.md").read_text(encoding="utf-8")


def test_cells_and_lines_are_capped_and_the_section_cut_at_a_fence(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_runs(project, "2", "3")
    diff = diff_with_previous(project / "runs", b, read_record(b))
    monkeypatch.setattr(notebook_changes, "MAX_CELLS", 1)
    monkeypatch.setattr(notebook_changes, "MAX_LINES", 1)
    capped = render_notebook_changes(diff)
    assert capped.endswith(
        "parameters: values changed\n```diff\n- n = 2\n… 1 more line\n```\n\n"
        f"…and 2 more cells: `nbflow diff {a.name} {b.name}` shows them all."
    )
    monkeypatch.setattr(notebook_changes, "MAX_CELLS", 10)
    monkeypatch.setattr(notebook_changes, "MAX_CHARS", 330)
    cut = render_notebook_changes(diff)
    assert len(cut) <= 330
    assert cut.count("```") % 2 == 0  # every fence opened is closed
    assert cut.endswith(f"_Cut short: `nbflow diff {a.name} {b.name}`._")
