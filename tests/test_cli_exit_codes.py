"""The documented exit codes (README, docs/running.md): 2 for invalid input wherever it
is found, 75 for a workflow already running, 141 for a closed stdout, and the worst
code of a run covering several workflows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import commit_all, latest_run, write_manifest, write_notebook, write_run

from nbflow.cli import main

RUN_ID = "2026-11-23T000000Z-ab12"


def test_affected_with_a_non_range_exits_2(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_repo / "README.md").write_text("x\n", encoding="utf-8")
    commit_all(project_repo, "first")

    assert main(["affected", "HEAD"]) == 2
    assert capsys.readouterr() == (
        "",
        "error: 'HEAD' is not a range: write BASE..HEAD, e.g. HEAD~1..HEAD\n",
    )


def test_run_changed_with_an_unknown_revision_exits_2(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_repo / "README.md").write_text("x\n", encoding="utf-8")
    commit_all(project_repo, "first")

    assert main(["run", "--changed", "nosuch..HEAD"]) == 2
    assert capsys.readouterr() == ("", "error: nosuch..HEAD: unknown revision 'nosuch'\n")


def test_comment_without_a_token_exits_2(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/data")
    write_run(project, RUN_ID)

    assert main(["comment", "--pr", "7", RUN_ID]) == 2
    assert capsys.readouterr() == (
        "",
        "error: no GitHub token: set GITHUB_TOKEN (or GH_TOKEN); in a GitHub Actions "
        "workflow add `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` to the step\n",
    )


def test_show_into_a_closed_pipe_exits_141_quietly(project: Path) -> None:
    """``nbflow show --json RUN | head -2``: the reader is gone before nbflow writes;
    no traceback, no "internal error", no "Exception ignored" at exit."""
    write_run(project, RUN_ID)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "nbflow", "show", "--json", RUN_ID],
            cwd=project,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)

    assert (proc.returncode, proc.stderr) == (141, "")


def two_workflows(project: Path, on: str) -> None:
    """``a_fails`` (its step raises) then ``b_works``: the failing one comes first, so
    the last workflow's code is 0."""
    for name, cell in (("a_fails", "raise ValueError('boom')"), ("b_works", "x = 1")):
        folder = project / "workflows" / name
        write_notebook(folder / "only.ipynb", None, [cell])
        write_manifest(
            folder, f"name: {name}\n{on}\nsteps:\n  - {{id: only, notebook: only.ipynb}}\n"
        )


def test_schedule_exits_with_the_worst_code_of_its_workflows(project: Path) -> None:
    two_workflows(project, 'on: {schedule: ["0 0 * * *"]}')

    code = main(["run", "--schedule", "0 0 * * *"])

    statuses = [latest_run(project, name)[1].status.value for name in ("a_fails", "b_works")]
    assert (code, statuses) == (1, ["failed", "succeeded"])


def test_changed_exits_with_the_worst_code_of_its_workflows(project_repo: Path) -> None:
    (project_repo / "README.md").write_text("x\n", encoding="utf-8")
    base = commit_all(project_repo, "first")
    two_workflows(project_repo, "")
    commit_all(project_repo, "two workflows")

    code = main(["run", "--changed", f"{base}..HEAD"])

    statuses = [latest_run(project_repo, name)[1].status.value for name in ("a_fails", "b_works")]
    assert (code, statuses) == (1, ["failed", "succeeded"])
