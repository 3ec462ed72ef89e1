"""The example workflows, end to end, on a copy of the repository's ``workflows/``."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from helpers import commit_all, comparable, copy_examples, latest_run

from nbflow.cli import main
from nbflow.run_record import RunStatus, StepStatus, parse_time
from nbflow.store.runs import read_record

REPO = Path(__file__).resolve().parent.parent
PAYPAL_HEADER = "Date,Time,TimeZone,Name,Type,Status,Currency,Gross,Transaction ID"


@pytest.fixture
def examples(project: Path) -> Path:
    """A project holding a copy of the example workflows (no data from earlier runs)."""
    return copy_examples(project)


FINANCE_STEPS = [
    "generate_sample",
    "check_sources",
    "transform",
    "load_warehouse",
    "build_view",
    "cleanup",
    "alert",
]


def test_finance_daily_loads_the_day_then_stops_on_missing_exports(examples: Path) -> None:
    folder = examples / "workflows" / "finance-daily"

    assert main(["run", "finance-daily", "-p", "run_date=2026-11-20"]) == 0

    _, record = latest_run(examples, "finance-daily")
    assert record.status == RunStatus.SUCCEEDED
    assert [(s.id, s.status) for s in record.steps] == [
        (step, StepStatus.SKIPPED if step == "alert" else StepStatus.SUCCEEDED)
        for step in FINANCE_STEPS
    ]
    assert record.step("alert").reason == "run_if any_failed: no step it needs failed"
    # the sample's exports were there at the first look: nothing waited for
    assert record.step("check_sources").reason == "run_if none_failed: none failed"
    assert record.parameters["run_date"] == "2026-11-20"
    rows = record.step("check_sources").outputs["rows"]
    assert rows > 0
    assert record.step("transform").parameters["rows_expected"] == rows
    with duckdb.connect(str(folder / "data" / "warehouse.duckdb"), read_only=True) as con:
        (loaded,) = con.execute(
            "SELECT count(*) FROM payments WHERE run_date = '2026-11-20'"
        ).fetchone()
        (view_rows, view_payments) = con.execute(
            "SELECT count(*), sum(payments) FROM daily_revenue"
        ).fetchone()
    assert loaded == rows
    assert view_rows > 0 and view_payments == rows
    assert len(record.step("cleanup").outputs["deleted"]) == 3
    assert not (folder / "data" / "raw" / "2026-11-20").exists()

    # no sample and no real exports: check_sources waits for them, then fails; the
    # example waits 2h, this copy a second
    manifest = folder / "workflow.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        text.replace("timeout: 2h", "timeout: 1s").replace("every: 1m", "every: 0.2")
    )
    code = main(
        ["run", "finance-daily", "-p", "run_date=2026-11-21", "-p", "generate_sample=false"]
    )

    assert code == 1
    run_dir, failed = latest_run(examples, "finance-daily")
    assert failed.status == RunStatus.FAILED
    assert failed.parameters["generate_sample"] is False
    generate = failed.step("generate_sample")
    assert (generate.status, generate.reason) == (
        StepStatus.SKIPPED,
        "condition false: ${{ params.generate_sample }} (params.generate_sample = False)",
    )
    check = failed.step("check_sources")
    assert check.status == StepStatus.FAILED
    assert check.error is not None and check.error.ename == "WaitTimeout"
    raw = "data/raw/2026-11-21"
    assert check.reason == (
        f"wait_for: timed out after 1.0 s; never appeared: {raw}/paypal.csv, "
        f"{raw}/stripe.csv, {raw}/mastercard.csv"
    )
    assert [(s.id, s.status, s.reason) for s in failed.steps[2:6]] == [
        ("transform", StepStatus.SKIPPED, "needs 'check_sources', which failed"),
        ("load_warehouse", StepStatus.SKIPPED, "needs 'transform', which skipped"),
        ("build_view", StepStatus.SKIPPED, "needs 'load_warehouse', which skipped"),
        ("cleanup", StepStatus.SKIPPED, "needs 'build_view', which skipped"),
    ]
    alert = failed.step("alert")
    assert (alert.status, alert.reason) == (
        StepStatus.SUCCEEDED,
        "run_if any_failed: 'cleanup' skipped after a failure",
    )
    marker = json.loads((folder / "data" / "alerts" / "2026-11-21.json").read_text())
    assert marker == {
        "run_date": "2026-11-21",
        "run_id": failed.run_id,
        "status": "incomplete",
        "raw_exports_kept": [],
        "report": f"runs/finance-daily/{failed.run_id}/README.md",
    }
    assert sorted(p.name for p in run_dir.glob("*.ipynb")) == ["alert.ipynb"]


def test_finance_daily_changed_transform_makes_the_deleted_exports_again(
    project_repo: Path,
) -> None:
    """``cleanup`` deleted the raw exports after the first run; a commit touching
    ``transform`` reruns it and its dependants, and ``generate_sample`` too, because
    the files it produces are gone. ``check_sources``' outputs are reused."""
    folder = copy_examples(project_repo) / "workflows" / "finance-daily"
    commit_all(project_repo, "examples")
    assert main(["run", "finance-daily", "-p", "run_date=2026-11-20"]) == 0
    first, _ = latest_run(project_repo, "finance-daily")
    assert not (folder / "data" / "raw" / "2026-11-20").exists()
    notebook = json.loads((folder / "transform.ipynb").read_text())
    notebook["cells"].append(
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "source": "print('reviewed')",
            "id": "reviewed",
        }
    )
    (folder / "transform.ipynb").write_text(json.dumps(notebook))
    commit_all(project_repo, "transform prints")

    assert main(["run", "--changed", "HEAD~1..HEAD", "-p", "run_date=2026-11-20"]) == 0

    _, record = latest_run(project_repo, "finance-daily")
    assert record.status == RunStatus.SUCCEEDED
    statuses = {s.id: s.status for s in record.steps}
    assert statuses == {
        **{step: StepStatus.SUCCEEDED for step in FINANCE_STEPS},
        "check_sources": StepStatus.SKIPPED,
        "alert": StepStatus.SKIPPED,
    }
    assert record.step("check_sources").reason == f"not selected; outputs from run {first.name}"
    rows = read_record(first).step("check_sources").outputs["rows"]
    assert record.step("transform").parameters["rows_expected"] == rows


def test_regional_sales_runs_its_regions_in_parallel(examples: Path) -> None:
    code = main(["run", "regional-sales", "--jobs", "3", "-p", "run_date=2026-11-20"])

    assert code == 0
    run_dir, record = latest_run(examples, "regional-sales")
    assert record.status == RunStatus.SUCCEEDED
    assert all(s.status == StepStatus.SUCCEEDED for s in record.steps)
    region = record.step("region")
    assert [(i.value, i.notebook) for i in region.items] == [
        ("eu", "region.0.ipynb"),
        ("us", "region.1.ipynb"),
        ("apac", "region.2.ipynb"),
    ]
    assert all((run_dir / i.notebook).is_file() for i in region.items)
    starts = [parse_time(i.start) for i in region.items if i.start]
    ends = [parse_time(i.end) for i in region.items if i.end]
    assert max(starts) < min(ends), "the three regions did not overlap"
    prepare, combine = record.step("prepare"), record.step("combine")
    assert all(parse_time(prepare.end) <= start for start in starts)  # type: ignore[arg-type]
    assert all(end <= parse_time(combine.start) for end in ends)  # type: ignore[arg-type]
    totals = [i.outputs["total"] for i in region.items]
    assert region.outputs["total"] == totals
    assert combine.parameters == {"regions": ["eu", "us", "apac"], "totals": totals}
    assert combine.outputs["total"] == pytest.approx(sum(totals))
    report = examples / "workflows" / "regional-sales" / record.step("publish").outputs["report"]
    assert report.read_text(encoding="utf-8").startswith("# Sales by region, 2026-11-20\n")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"


GRID = ["model=tree,depth=1", "model=tree,depth=3", "model=forest,depth=1", "model=forest,depth=3"]


def test_model_grid_fits_every_item_of_its_grid_then_another_grid(examples: Path) -> None:
    folder = examples / "workflows" / "model-grid"

    assert main(["run", "model-grid", "--jobs", "2"]) == 0

    run_dir, record = latest_run(examples, "model-grid")
    assert [(s.id, s.status) for s in record.steps] == [
        (step, StepStatus.SUCCEEDED) for step in ("prepare", "fit", "summary")
    ]
    fit = record.step("fit")
    assert [i.label("fit") for i in fit.items] == [f"fit[{name}]" for name in GRID]
    assert [i.notebook for i in fit.items] == [f"fit.{n}.ipynb" for n in range(4)]
    for item in fit.items:  # each executed text notebook is an .ipynb with its outputs
        executed = json.loads((run_dir / item.notebook).read_text(encoding="utf-8"))
        assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code")
        metrics = json.loads(
            (
                folder / "data" / "metrics" / f"{item.value['model']}-{item.value['depth']}.json"
            ).read_text(encoding="utf-8")
        )
        assert metrics == {**item.value, **{k: item.outputs[k] for k in ("accuracy", "f1")}}
    accuracies = fit.outputs["accuracy"]
    assert all(0 < a <= 1 for a in accuracies)
    summary = record.step("summary")
    assert summary.parameters["accuracies"] == accuracies
    assert summary.outputs["best_accuracy"] == max(accuracies)
    assert summary.outputs["best"] in GRID
    assert "`fit[model=forest,depth=3]`" in (run_dir / "README.md").read_text(encoding="utf-8")

    assert main(["run", "model-grid", "-p", "depths=[2]"]) == 0

    _, second = latest_run(examples, "model-grid")
    assert [i.label("fit") for i in second.step("fit").items] == [
        "fit[model=tree,depth=2]",
        "fit[model=forest,depth=2]",
    ]


APART = "2026-11-20T063000Z-0002"


@pytest.mark.parametrize(
    "workflow,steps",
    [
        ("regional-sales", ["prepare", "region", "combine", "publish"]),
        ("finance-daily", FINANCE_STEPS),
    ],
)
def test_each_step_in_a_clean_copy_runs_as_a_local_run_does(
    examples: Path, monkeypatch: pytest.MonkeyPatch, workflow: str, steps: list[str]
) -> None:
    """As in CI jobs: each step runs in a fresh copy of the project, so the files a
    step reads come from the pieces of the steps that declared them (``produces:``)."""
    assert main(["run", workflow, "-p", "run_date=2026-11-20", "-j", "1"]) == 0
    _, local = latest_run(examples, workflow)
    pieces = examples.parent / "pieces"
    options = ["--run-id", APART, "--outputs", str(pieces)]
    assert main(["run", workflow, "--plan", "-p", "run_date=2026-11-20", *options]) == 0

    for step in steps:
        copy = examples.parent / f"job-{step}"
        (copy / "workflows").mkdir(parents=True)
        (copy / "nbflow.yaml").write_text("runs_dir: runs\n", encoding="utf-8")
        monkeypatch.chdir(copy_examples(copy))
        assert main(["run", workflow, "--step", step, "--inputs", str(pieces), *options]) == 0

    assert main(["assemble", workflow, "--run-id", APART, "--pieces", str(pieces)]) == 0
    apart = read_record(examples.parent / f"job-{steps[-1]}" / "runs" / workflow / APART)
    assert comparable(apart) == comparable(local)
