"""The example workflows: notebooks stored clean, manifests that fit their notebooks,
and the examples run end to end.

The end-to-end tests run each example through nbflow's own engine (``run_workflow``)
on a copy of its folder in a project in ``tmp_path``, so nothing is written into the
repository and what they check is what ``nbflow run`` does.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import jupytext
import nbformat
import pytest
from ruamel.yaml import YAML

from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.expressions import find_references
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunRecord, RunStatus, StepError, StepStatus
from nbflow.store.notebook_layout import TextLayout

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
NOTEBOOKS = sorted(WORKFLOWS.glob("*/*.ipynb"))
MANIFESTS = sorted(WORKFLOWS.glob("*/workflow.yaml"))
TEXT_NOTEBOOKS = sorted(WORKFLOWS.glob("model-grid/*.py"))
RUN_DATE = "2026-11-20"


def _id(path: Path) -> str:
    return str(path.relative_to(WORKFLOWS))


def _parameters_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]


def _parameter_names(notebook: Path) -> set[str]:
    """The names the notebook's parameters cell assigns (what papermill can override)."""
    (cell,) = _parameters_cells(jupytext.read(notebook))  # an .ipynb or a text notebook
    names = set()
    for node in ast.parse(cell.source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


def _manifest(workflow: str | Path) -> dict[str, Any]:
    path = workflow if isinstance(workflow, Path) else WORKFLOWS / workflow / "workflow.yaml"
    return YAML(typ="safe").load(path)


# -- every notebook is stored clean ---------------------------------------------------


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_id)
def test_notebook_is_valid_nbformat_4(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5)
    assert all(cell.get("id") for cell in nb.cells)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_id)
def test_notebook_has_one_parameters_cell(notebook: Path) -> None:
    cells = _parameters_cells(nbformat.read(notebook, as_version=4))
    assert [cell.cell_type for cell in cells] == ["code"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_id)
def test_notebook_is_stored_without_outputs(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    dirty = [
        cell.id
        for cell in nb.cells
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert dirty == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_id)
def test_notebook_kernel_is_python3(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    assert nb.metadata.kernelspec == {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }


@pytest.mark.parametrize("notebook", TEXT_NOTEBOOKS, ids=_id)
def test_text_notebook_is_stored_as_jupytext_writes_it(notebook: Path) -> None:
    """So ``nbflow inject`` then ``--remove`` leaves it byte for byte, and its kernel
    is python3, named in its header."""
    text = notebook.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    assert TextLayout(".py").dump(json.loads(json.dumps(nb))) == text
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert len(_parameters_cells(nb)) == 1


# -- every manifest fits its notebooks ------------------------------------------------


@pytest.mark.parametrize("manifest", MANIFESTS, ids=_id)
def test_step_parameters_exist_in_their_notebooks(manifest: Path) -> None:
    unknown = [
        f"{step['id']}: {name}"
        for step in _manifest(manifest)["steps"]
        for name in step.get("parameters", {})
        if name not in _parameter_names(manifest.parent / step["notebook"])
    ]
    assert unknown == []


@pytest.mark.parametrize("manifest", MANIFESTS, ids=_id)
def test_workflow_parameters_reach_a_notebook(manifest: Path) -> None:
    spec = _manifest(manifest)
    notebooks = {manifest.parent / step["notebook"] for step in spec["steps"]}
    defined = set().union(*(_parameter_names(p) for p in notebooks))
    sweeps = find_references([step.get("foreach") for step in spec["steps"]])
    defined |= {ref.name for ref in sweeps if ref.kind == "params"}  # e.g. a grid's values
    assert set(spec.get("parameters", {})) - defined == set()


# -- end to end, through nbflow's engine --------------------------------------------


def _copy_workflow(name: str, project: Path) -> Path:
    folder = project / "workflows" / name
    shutil.copytree(WORKFLOWS / name, folder, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return folder


def _run(folder: Path, **params: Any) -> RunRecord:
    """Run the workflow in ``folder`` as ``nbflow run`` does, with ``params`` as ``-p``."""
    workflow = load_manifest(folder / "workflow.yaml")
    return run_workflow(workflow, RunOptions(parameters=params))


def _outputs(record: RunRecord) -> dict[str, dict[str, Any]]:
    assert record.status == RunStatus.SUCCEEDED, [(s.id, s.error) for s in record.steps]
    return {step.id: dict(step.outputs or {}) for step in record.steps}


def _sample_data(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_data", folder / "sample_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _daily_revenue(warehouse: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT payment_date::VARCHAR, source, payments, revenue_usd::VARCHAR"
            " FROM daily_revenue ORDER BY payment_date, source"
        ).fetchall()
    return rows


def test_finance_daily_end_to_end(project: Path) -> None:
    folder = _copy_workflow("finance-daily", project)

    outputs = _outputs(_run(folder, run_date=RUN_DATE))

    # The sample exports are seeded by the run date, so these numbers are stable.
    expected = [
        (RUN_DATE, "mastercard", 33, "30468.28"),
        (RUN_DATE, "paypal", 32, "26765.83"),
        (RUN_DATE, "stripe", 27, "21602.98"),
    ]
    assert _daily_revenue(folder / "data/warehouse.duckdb") == expected
    assert outputs["check_sources"] == {
        "rows": 92,
        "rows_by_source": {"paypal": 32, "stripe": 27, "mastercard": 33},
    }
    assert outputs["load_warehouse"] == {"rows_loaded": 92, "rows_replaced": 0}
    assert outputs["build_view"]["revenue_usd"] == outputs["transform"]["total_usd"] == 78837.09
    assert not (folder / "data/raw" / RUN_DATE).exists()
    assert (folder / "data/staging" / RUN_DATE / "payments.csv").is_file()


def test_finance_daily_reload_replaces_the_day(project: Path) -> None:
    folder = _copy_workflow("finance-daily", project)
    _outputs(_run(folder, run_date=RUN_DATE))
    before = _daily_revenue(folder / "data/warehouse.duckdb")

    again = _outputs(_run(folder, run_date=RUN_DATE))

    assert again["load_warehouse"] == {"rows_loaded": 92, "rows_replaced": 92}
    assert _daily_revenue(folder / "data/warehouse.duckdb") == before


def _failed_check(folder: Path) -> StepError:
    record = _run(folder, run_date=RUN_DATE, generate_sample=False)
    assert record.status == RunStatus.FAILED
    step = record.step("check_sources")
    assert step.status == StepStatus.FAILED
    assert step.error is not None
    assert record.step("cleanup").status == StepStatus.SKIPPED  # the raw files are kept
    return step.error


def test_a_missing_export_fails_the_wait_naming_it_and_the_alert_runs(project: Path) -> None:
    """check_sources waits for the day's three exports (``wait_for:``); one that never
    comes fails it at the timeout, naming that file only, and the alert step runs."""
    folder = _copy_workflow("finance-daily", project)
    manifest = folder / "workflow.yaml"
    text = manifest.read_text()
    assert "timeout: 2h" in text and "every: 1m" in text
    manifest.write_text(
        text.replace("timeout: 2h", "timeout: 2s").replace("every: 1m", "every: 1s")
    )
    _sample_data(folder).write_exports(RUN_DATE, folder / "data/raw" / RUN_DATE)
    (folder / "data/raw" / RUN_DATE / "stripe.csv").unlink()

    record = _run(folder, run_date=RUN_DATE, generate_sample=False)

    assert record.status == RunStatus.FAILED
    step = record.step("check_sources")
    assert step.status == StepStatus.FAILED
    assert step.error is not None and step.error.ename == "WaitTimeout"
    assert f"data/raw/{RUN_DATE}/stripe.csv" in step.error.evalue
    assert "paypal.csv" not in step.error.evalue and "mastercard.csv" not in step.error.evalue
    assert record.step("cleanup").status == StepStatus.SKIPPED  # the raw files are kept
    assert record.step("alert").status == StepStatus.SUCCEEDED
    assert (folder / "data/raw" / RUN_DATE / "paypal.csv").is_file()


def test_check_sources_names_a_date_in_the_wrong_format(project: Path) -> None:
    folder = _copy_workflow("finance-daily", project)
    raw = folder / "data/raw" / RUN_DATE
    _sample_data(folder).write_exports(RUN_DATE, raw)
    mastercard = raw / "mastercard.csv"
    lines = mastercard.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",11/20/26,", ",20/11/26,")  # DD/MM/YY where MM/DD/YY belongs
    mastercard.write_text("".join(lines))

    error = _failed_check(folder)

    assert error.evalue == (
        f"1 of 3 source files for {RUN_DATE} are not usable:\n"
        f"- data/raw/{RUN_DATE}/mastercard.csv:2: Transaction Date is '20/11/26'; "
        "expected an MM/DD/YY date"
    )


def test_regional_sales_fans_out_and_in(project: Path) -> None:
    folder = _copy_workflow("regional-sales", project)

    outputs = _outputs(_run(folder, run_date=RUN_DATE))

    regions = ("eu", "us", "apac")
    regional = dict(zip(regions, outputs["region"]["total"], strict=True))
    summary = outputs["combine"]["summary"]
    assert {region: r["total"] for region, r in summary["regions"].items()} == regional
    assert summary["total"] == pytest.approx(sum(regional.values()))
    assert summary["leader"] == max(regional, key=regional.__getitem__)
    assert outputs["region"]["orders"] == [40, 40, 40]
    report = folder / "data/reports" / f"{RUN_DATE}.md"
    assert outputs["publish"] == {"report": f"data/reports/{RUN_DATE}.md"}
    assert report.read_text().startswith(f"# Sales by region, {RUN_DATE}\n")
