"""The single ``run`` job simulated as a runner runs it: the generated steps' shell
in a clone, with the environment GitHub gives each step. Notebooks never see the
push token; a push of run commits runs nothing; a person's ``nbflow:`` commit runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import git, write_manifest, write_notebook
from test_ci_graph import JobGraph, push_generated

from nbflow.errors import UsageError
from nbflow.github.guard import guard_push, is_run_commit_message
from nbflow.store.runs import iter_run_dirs, read_record

FILE = Path(".github/workflows/nbflow-snoop.yml")
TOKEN = "ghs_fakeTokenValue0123456789abcdefABCDEF"  # what secrets.GITHUB_TOKEN expands to

#: The notebook looks for the token wherever a process above it could hold it: each
#: ancestor's environment (/proc/<pid>/environ: a token variable with a value, or the
#: token's value under any name), the repository's git config.
SNOOP = f"""
import os, pathlib, subprocess
found = []
pid = os.getpid()
while pid > 1:
    proc = pathlib.Path(f"/proc/{{pid}}")
    for entry in (proc / "environ").read_bytes().split(b"\\0"):
        name, _, value = entry.partition(b"=")
        if (name in (b"GITHUB_TOKEN", b"GH_TOKEN") and value) or {TOKEN.encode()!r} in entry:
            found.append((pid, (proc / "comm").read_text().strip(), name.decode()))
    pid = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
config = subprocess.run(["git", "config", "--list"], capture_output=True, text=True)
if {TOKEN!r} in config.stdout or "extraheader" in config.stdout:
    found.append(("git config", config.stdout))
print("ancestors checked; found:", found)
assert not found, found
"""


def snoop_project(repo: Path) -> Path:
    folder = repo / "workflows" / "snoop"
    write_notebook(folder / "snoop.ipynb", "", [SNOOP])
    write_manifest(
        folder,
        """
        name: snoop
        on: {push: true, schedule: ["0 3 * * *"]}
        secrets: [API_TOKEN]
        steps:
          - id: snoop
            notebook: snoop.ipynb
        """,
    )
    (repo / "nbflow.yaml").write_text("", encoding="utf-8")
    return repo


def runner_env() -> dict[str, str]:
    """What a runner passes every step besides its ``env:``: no token of any kind."""
    env = {k: v for k, v in os.environ.items() if "TOKEN" not in k}
    return {**env, "CI": "true", "GITHUB_ACTIONS": "true"}


def run_job(repo: Path, tmp_path: Path, event: str, payload: dict[str, Any]) -> JobGraph:
    text = push_generated(repo, FILE)
    graph = JobGraph(
        text,
        tmp_path / "origin.git",
        tmp_path / "gh",
        event,
        payload=payload,
        secrets={"GITHUB_TOKEN": TOKEN, "API_TOKEN": "api-secret"},
        base_env=runner_env(),
    )
    graph.run()
    return graph


def pushed_runs(tmp_path: Path) -> list[Path]:
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), str(check))
    return list(iter_run_dirs(check / "runs", "snoop"))


PUSH = {"ref": "refs/heads/main", "commits": [{"message": "change the notebook"}]}


def test_no_notebook_finds_the_token_and_a_later_step_pushes_the_run(
    git_repo: Path, tmp_path: Path
) -> None:
    snoop_project(git_repo)
    graph = run_job(git_repo, tmp_path, "push", PUSH)

    assert graph.results == {"run": "success", "pull_request": "skipped"}, "\n".join(graph.failures)
    (run_dir,) = pushed_runs(tmp_path)
    record = read_record(run_dir)
    assert (record.status.value, record.trigger) == ("succeeded", "push")
    executed = json.loads((run_dir / "snoop.ipynb").read_text(encoding="utf-8"))
    outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
    printed = "".join("".join(o.get("text", "")) for o in outputs)
    assert "ancestors checked; found: []" in printed


def test_a_failed_run_is_still_committed_and_pushed(git_repo: Path, tmp_path: Path) -> None:
    snoop_project(git_repo)
    write_notebook(
        git_repo / "workflows" / "snoop" / "snoop.ipynb", "", ["raise ValueError('boom')"]
    )
    graph = run_job(git_repo, tmp_path, "schedule", {"schedule": "0 3 * * *"})

    assert graph.results == {"run": "failure", "pull_request": "skipped"}
    assert [f.partition("\n")[0] for f in graph.failures] == ["run: nbflow run (schedule): exit 1"]
    (run_dir,) = pushed_runs(tmp_path)
    assert (read_record(run_dir).status.value, read_record(run_dir).trigger) == (
        "failed",
        "schedule",
    )


RUN_COMMIT = (
    "nbflow: snoop succeeded (1/1 steps) run 2026-12-02T070000Z-0001\n\n"
    "Executed notebooks, run record (run.json) and report (README.md) of this run.\n\n"
    "Nbflow-Workflow: snoop\nNbflow-Run: 2026-12-02T070000Z-0001\n"
    "Nbflow-Status: succeeded\nNbflow-Trigger: push\n"
)


def test_a_push_of_run_commits_only_runs_nothing(git_repo: Path, tmp_path: Path) -> None:
    snoop_project(git_repo)
    payload = {"ref": "refs/heads/main", "commits": [{"message": RUN_COMMIT}] * 2}
    graph = run_job(git_repo, tmp_path, "push", payload)

    assert graph.results["run"] == "success", graph.failures
    assert pushed_runs(tmp_path) == []


def test_a_person_s_commit_titled_nbflow_still_runs(git_repo: Path, tmp_path: Path) -> None:
    snoop_project(git_repo)
    human = "nbflow: tidy the snoop notebook\n\nNo trailers here.\n"
    payload = {"ref": "refs/heads/main", "commits": [{"message": RUN_COMMIT}, {"message": human}]}
    graph = run_job(git_repo, tmp_path, "push", payload)

    assert graph.results["run"] == "success", graph.failures
    assert len(pushed_runs(tmp_path)) == 1


def test_a_push_to_another_branch_runs_nothing(git_repo: Path, tmp_path: Path) -> None:
    snoop_project(git_repo)
    payload = {"ref": "refs/heads/feature", "commits": [{"message": "change"}]}
    graph = run_job(git_repo, tmp_path, "push", payload)

    assert graph.results == {"run": "skipped", "pull_request": "skipped"}
    assert pushed_runs(tmp_path) == []


@pytest.mark.parametrize(
    ("message", "run_commit"),
    [
        (RUN_COMMIT, True),
        ("nbflow: a person's commit\n", False),
        ("fix\n\nNbflow-Run: 1\n\nSigned-off-by: someone\n", False),  # not the last paragraph
        ("Nbflow-Workflow: x\nNbflow-Run: 1\n", False),  # a subject is not a trailer block
    ],
)
def test_run_commits_are_known_by_their_trailers(message: str, run_commit: bool) -> None:
    assert is_run_commit_message(message) is run_commit


def test_guard_reads_the_event_file(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"commits": [], "head_commit": {"message": RUN_COMMIT}}))
    assert guard_push("push", event).skip is True
    assert guard_push("schedule", None).skip is False
    event.write_text("[1, 2]")
    with pytest.raises(UsageError) as exc:
        guard_push("push", event)
    assert str(exc.value) == f"{event}: expected a JSON object (a GitHub event)"
