"""The scale-out issue's proof: the example workflow with a sweep, regional-sales,
run locally, as the GitHub Actions job graph it generates (simulated: each job,
each matrix job, in its own clone) and on a local Dask cluster of two worker
processes, leaves three records that agree on every step's and item's status,
parameters and outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import comparable, copy_examples, git
from test_ci_graph import JobGraph, push_generated

from nbflow.run_record import RunRecord
from nbflow.store.runs import iter_run_dirs, read_record

pytest.importorskip("distributed")
pytestmark = pytest.mark.serial  # a Dask cluster: see tests/engine/test_dask.py

DAY = "2026-11-20"
FILE = Path(".github/workflows/nbflow-regional-sales.yml")


def nbflow(cwd: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nbflow", *args], cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def only_run(root: Path) -> RunRecord:
    (folder,) = iter_run_dirs(root / "runs", "regional-sales")
    return read_record(folder)


def test_regional_sales_agrees_locally_on_the_job_graph_and_on_dask(
    git_repo: Path, tmp_path: Path
) -> None:
    copy_examples(git_repo)
    (git_repo / "nbflow.yaml").write_text("", encoding="utf-8")
    text = push_generated(git_repo, FILE)
    origin = tmp_path / "origin.git"
    clones = {}
    for engine in ("local", "dask"):
        clones[engine] = tmp_path / engine
        git(tmp_path, "clone", "-q", str(origin), str(clones[engine]))
    regions = ["eu", "us", "apac", "latam"]
    given = ["-p", f"run_date={DAY}", "-p", f"regions={json.dumps(regions)}"]

    graph = JobGraph(
        text,
        origin,
        tmp_path / "gh",
        "workflow_dispatch",
        {"run_date": DAY, "regions": json.dumps(regions)},
    )
    results = graph.run()
    nbflow(clones["local"], "run", "regional-sales", "--trigger", "dispatch", *given)
    nbflow(
        clones["dask"],
        "run",
        "regional-sales",
        "--trigger",
        "dispatch",
        "--executor",
        "dask",
        *given,
    )

    assert set(results.values()) == {"success", "skipped"}, (results, graph.failures)
    names = [f"regional-sales / region [{r}]" for r in regions]
    assert graph.matrix_runs["step-region"] == names
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(origin), str(check))
    records = {
        "job graph": only_run(check),
        "local": only_run(clones["local"]),
        "dask": only_run(clones["dask"]),
    }
    assert comparable(records["job graph"]) == comparable(records["local"])
    assert comparable(records["dask"]) == comparable(records["local"])
    region = records["local"].step("region")
    assert [i.value for i in region.items] == regions
    assert len(region.outputs["total"]) == 4
    summary = records["local"].step("combine").outputs["summary"]
    assert summary["total"] == pytest.approx(sum(region.outputs["total"]))
    assert {r.trigger for r in records.values()} == {"dispatch"}
    print(side_by_side(records))  # pytest -s shows it: the closing note's table
    shutil.rmtree(tmp_path / "gh" / "jobs")  # big: a clone per job


def side_by_side(records: dict[str, RunRecord]) -> str:
    """A Markdown table: per step and item, each engine's status and outputs."""
    rows = ["| step | " + " | ".join(records) + " |", "|---" * (len(records) + 1) + "|"]
    first = next(iter(records.values()))
    for step in first.steps:
        units = [(step.id, lambda r, s=step.id: r.step(s))]
        units += [
            (f"{step.id}[{i.value}]", lambda r, s=step.id, n=i.index: r.step(s).items[n])
            for i in step.items
        ]
        for label, get in units:
            cells = [
                f"{get(r).status.value} {json.dumps(get(r).outputs)}" for r in records.values()
            ]
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
