"""The history page ``runs/<wf>/README.md`` (and ``durations.svg``): regenerated from
the run records in every run commit, never edited in place, so two clones pushing
runs both land and the replay lists both. Real kernels, real Git, a bare remote."""

from __future__ import annotations

import xml.dom.minidom
from pathlib import Path

import pytest
from conftest import configure_git
from helpers import daily_workflow, git, write_run

from nbflow.cli import main
from nbflow.git.repo import commit_run
from nbflow.project import Project


def test_committed_runs_regenerate_the_page_the_chart_and_history(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    daily = daily_workflow(project_repo)
    (daily / "fail-2026-11-02").write_text("")
    git(project_repo, "add", ".")
    git(project_repo, "commit", "-q", "-m", "daily")

    code = main(["backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-03", "--commit"])
    capsys.readouterr()
    assert main(["history", "daily"]) == 0
    shown = capsys.readouterr().out

    assert code == 1
    page = git(project_repo, "show", "HEAD:runs/daily/README.md")
    chart = git(project_repo, "show", "HEAD:runs/daily/durations.svg")
    assert git(project_repo, "status", "--porcelain") == ""  # index and work tree follow
    assert (project_repo / "runs" / "daily" / "README.md").read_text() == page + "\n"
    rows = [line for line in page.splitlines() if line.startswith("| 2026-")]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| 2026-11-03 00:00", "✅ succeeded"],
        ["| 2026-11-02 00:00", "❌ failed"],
        ["| 2026-11-01 00:00", "✅ succeeded"],
    ]
    for row in rows:  # each links to its run's report, committed beside it
        run_id = row.split("[")[1].split("]")[0]
        assert f"]({run_id}/README.md)" in row
        assert git(project_repo, "cat-file", "-t", f"HEAD:runs/daily/{run_id}/README.md") == "blob"
    assert "✅❌✅" in page and "![step durations per run](durations.svg)" in page
    assert page.endswith("AssertionError: told to fail on 2026-11-02")
    svg = xml.dom.minidom.parseString(chart)  # well-formed XML, no script
    assert svg.documentElement.tagName == "svg" and "<script" not in chart
    assert len(svg.getElementsByTagName("circle")) == 3  # one point per run of the step
    assert shown.splitlines()[0] == "daily: last 3 runs, oldest first: ✅❌✅"
    assert shown.splitlines()[-1].endswith(
        "step day: cell 1: AssertionError: told to fail on 2026-11-02"
    )


def test_two_clones_pushing_runs_both_land_and_the_replayed_page_lists_both(
    git_repo: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(other))
    configure_git(other)
    first = "2026-11-23T000000Z-ab12"
    second = "2026-11-23T000100Z-cd34"
    folder, record = write_run(git_repo, first)
    commit_run(Project(git_repo), folder, record, target="current", push=True)
    folder, record = write_run(other, second, status="failed")

    landed = commit_run(Project(other), folder, record, target="current", push=True)

    origin = tmp_path / "origin.git"
    assert git(origin, "rev-parse", "main") == landed.sha
    page = git(origin, "show", "main:runs/demo/README.md")
    assert f"[{first}]({first}/README.md)" in page and f"[{second}]({second}/README.md)" in page
    assert "✅❌" in page  # the strip, oldest first, from both clones
    assert git(origin, "ls-tree", "--name-only", "main", "runs/demo/").split() == [
        "runs/demo/2026-11-23T000000Z-ab12",
        "runs/demo/2026-11-23T000100Z-cd34",
        "runs/demo/README.md",
        "runs/demo/durations.svg",
        "runs/demo/summaries.jsonl",
    ]
    changed = git(origin, "show", "--name-only", "--format=", "main").split()
    assert "runs/demo/README.md" in changed and f"runs/demo/{second}/run.json" in changed


def test_a_step_name_with_markup_is_escaped_in_the_chart(git_repo: Path) -> None:
    from nbflow.report.svg import duration_chart
    from nbflow.run_record import RunRecord, RunStatus, StepRecord, StepStatus

    step = StepRecord(id="a<b>&c", status=StepStatus.SUCCEEDED, duration=2.0)
    record = RunRecord("demo", "2026-11-23T000000Z-ab12", RunStatus.SUCCEEDED, "manual",
                       "2026-11-23T00:00:00.000Z", steps=(step,))  # fmt: skip

    chart = duration_chart([record])

    assert "a&lt;b&gt;&amp;c" in chart
    assert xml.dom.minidom.parseString(chart).documentElement.tagName == "svg"
