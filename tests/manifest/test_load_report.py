"""The manifest's ``report:`` settings: where they are given, how a step's keys
override the workflow's, and every problem with its position."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_manifest, write_notebook

from nbflow.errors import ManifestError
from nbflow.manifest.load import load_manifest
from nbflow.manifest.model import ReportSettings


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "workflows" / "demo"
    for name in "ab":
        write_notebook(path / f"{name}.ipynb", "x = 1")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize(
    "workflow_level", ["report: {html: true}\n", "defaults: {report: {html: true}}\n"]
)
def test_the_workflows_settings_reach_every_step_and_a_step_overrides_key_by_key(
    folder: Path, workflow_level: str
) -> None:
    path = write_manifest(
        folder,
        "name: demo\n" + workflow_level + "steps:\n"
        "  - {id: a, notebook: a.ipynb, report: {hide_code: true}}\n"
        "  - {id: b, notebook: b.ipynb, report: {html: false}}\n",
    )
    workflow = load_manifest(path)
    assert workflow.step("a").report == ReportSettings(html=True, hide_code=True)
    assert workflow.step("b").report == ReportSettings(html=False, hide_code=False)
    assert workflow.defaults.report == ReportSettings(html=True)
    assert workflow.warnings == ()


def test_no_report_settings_write_no_html(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\nsteps:\n  - {id: a, notebook: a.ipynb}\n")
    assert load_manifest(path).step("a").report == ReportSettings()


def test_wrong_shapes_are_located(folder: Path) -> None:
    path = write_manifest(
        folder,
        """
        name: demo
        report: {html: yes please}
        steps:
          - id: a
            notebook: a.ipynb
            report: {hide_cod: true}
          - id: b
            notebook: b.ipynb
            report: true
        """,
    )
    assert problems(path) == [
        f"{path}:2:16: report.html: expected true or false, got str",
        f"{path}:6:14: steps[0] (a).report.hide_cod: unknown key 'hide_cod'; "
        "did you mean 'hide_code'?",
        f"{path}:9:13: steps[1] (b).report: expected a mapping with html and hide_code, got bool",
    ]


def test_the_workflows_settings_given_twice(folder: Path) -> None:
    path = write_manifest(
        folder,
        """
        name: demo
        report: {html: true}
        defaults:
          report: {html: false}
        steps:
          - {id: a, notebook: a.ipynb}
        """,
    )
    assert problems(path) == [
        f"{path}:4:3: defaults.report: the workflow's report settings are given twice: "
        "as report and defaults.report; keep one of them"
    ]


def test_hide_code_without_html_is_a_located_warning(folder: Path) -> None:
    path = write_manifest(
        folder,
        """
        name: demo
        defaults:
          report: {hide_code: true}
        steps:
          - id: a
            notebook: a.ipynb
            report: {hide_code: true}
          - {id: b, notebook: b.ipynb}
        """,
    )
    warnings = [str(w) for w in load_manifest(path).warnings]
    fix = "hide_code has no effect without html: true (it hides code in the HTML copy); "
    fix += "add `html: true`, or remove hide_code"
    assert warnings == [
        f"{path}:3:23: defaults.report.hide_code: {fix}",
        f"{path}:7:25: steps[0] (a).report.hide_code: {fix}",
    ]
