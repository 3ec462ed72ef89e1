"""``ci: {jobs: per-step}``: one GitHub Actions job per step. Golden copy, actionlint,
hardening, and the job graph simulated locally: each job's commands in its own clone
of a repository, in dependency order, artifacts through folders, compared with a
local run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    assert_golden,
    branching_workflow,
    comparable,
    git,
    sweep_workflow,
    write_manifest,
    write_notebook,
)
from ruamel.yaml import YAML
from test_ci import lint

from nbflow.errors import ManifestError
from nbflow.github.jobs import MATRIX_LIMIT, sweep_matrices
from nbflow.github.workflows import generate_ci
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunRecord, RunStatus
from nbflow.store.pieces import Seed
from nbflow.store.runs import iter_run_dirs, read_record

CI = """\
on: {push: true, dispatch: true}
secrets: [API_TOKEN]
ci:
  jobs: per-step
  steps:
    d: {runs-on: [self-hosted, linux, x64]}
"""
FILE = Path(".github/workflows/nbflow-branching.yml")


def per_step_project(root: Path) -> Path:
    """``root`` holding the branching workflow laid out one job per step."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbflow.yaml").write_text("", encoding="utf-8")
    manifest = branching_workflow(root / "workflows" / "branching")
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("parameters:\n", CI + "parameters:\n", 1), encoding="utf-8")
    return root


def load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def test_per_step_file_matches_golden_and_passes_actionlint(tmp_path: Path) -> None:
    files = generate_ci(per_step_project(tmp_path / "project"))

    assert_golden("ci/nbflow-per-step.yml", files[FILE])
    lint(files, tmp_path / "lint")


def test_jobs_mirror_the_graph_and_only_assemble_writes(tmp_path: Path) -> None:
    doc = load(generate_ci(per_step_project(tmp_path))[FILE])
    jobs = doc["jobs"]

    assert list(jobs) == [
        "plan",
        "step-a",
        "step-b",
        "step-c",
        "step-d",
        "step-e",
        "step-f",
        "assemble",
        "pull_request",
    ]
    assert {j: jobs[j].get("needs") for j in jobs if j.startswith("step-")} == {
        "step-a": ["plan"],
        "step-b": ["plan", "step-a"],
        "step-c": ["plan", "step-a"],
        "step-d": ["plan", "step-c"],
        "step-e": ["plan", "step-d"],
        "step-f": ["plan"],
    }
    assert jobs["assemble"]["needs"] == ["plan", *(j for j in jobs if j.startswith("step-"))]
    assert jobs["assemble"]["if"] == (
        "always() && needs.plan.result == 'success' && needs.plan.outputs.skip != 'true'"
    )
    writers = [j for j in jobs if "write" in jobs[j]["permissions"].values()]
    assert writers == ["assemble"]
    assert jobs["step-d"]["runs-on"] == ["self-hosted", "linux", "x64"]
    assert jobs["step-a"]["runs-on"] == "ubuntu-latest"
    names = [
        s["with"]["name"]
        for j in jobs.values()
        for s in j["steps"]
        if "upload-artifact" in s.get("uses", "")
    ]
    assert len(names) == len(set(names)) == 7
    plan_env = [s.get("env", {}) for s in jobs["plan"]["steps"]]
    assert not any("secrets." in v for env in plan_env for v in env.values())
    token = [j for j in jobs if "GITHUB_TOKEN" in str(jobs[j]["steps"])]
    assert token == ["assemble"]


def test_assemble_is_in_no_concurrency_group_and_gets_only_what_notify_reads(
    tmp_path: Path,
) -> None:
    manifest = per_step_project(tmp_path) / "workflows" / "branching" / "workflow.yaml"
    notify = (
        "notify:\n"
        "  on_failure: ['${{ env.HOOK_URL }}', '${{ secrets.API_TOKEN }}']\n"
        "  on_success: ['${{ env.GITHUB_SERVER_URL }}/x', '${{ env.HOOK_URL }}']\n"
    )
    manifest.write_text(manifest.read_text(encoding="utf-8") + notify, encoding="utf-8")
    doc = load(generate_ci(tmp_path)[FILE])
    jobs = doc["jobs"]

    assert [j for j in jobs if "concurrency" in jobs[j]] == ["pull_request"]
    assert "concurrency" not in doc
    assert jobs["assemble"]["steps"][-1]["env"] == {
        "GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}",
        "HOOK_URL": "${{ secrets.HOOK_URL || vars.HOOK_URL }}",
        "API_TOKEN": "${{ secrets.API_TOKEN }}",
    }
    assert jobs["step-a"]["steps"][-2]["env"] == {"API_TOKEN": "${{ secrets.API_TOKEN }}"}


def test_every_job_downloads_the_pieces_of_earlier_attempts_too(tmp_path: Path) -> None:
    jobs = load(generate_ci(per_step_project(tmp_path))[FILE])["jobs"]

    downloads = {
        j: s["with"]
        for j in jobs
        for s in jobs[j]["steps"]
        if "download-artifact" in s.get("uses", "")
    }
    assert list(downloads) == [j for j in jobs if j.startswith("step-")] + ["assemble"]
    for job, given in downloads.items():
        assert given["run-id"] == "${{ github.run_id }}"
        assert given["github-token"] == "${{ github.token }}"
        assert jobs[job]["permissions"]["actions"] == "read"


def test_an_unknown_step_under_ci_points_at_it(tmp_path: Path) -> None:
    folder = tmp_path / "workflows" / "demo"
    (folder).mkdir(parents=True)
    path = write_manifest(
        folder,
        """
        name: demo
        ci:
          jobs: per-step
          steps:
            extrct: {runs-on: ubuntu-latest}
        steps:
          - id: extract
            notebook: extract.ipynb
        """,
    )
    with pytest.raises(ManifestError) as exc:
        load_manifest(path, check_notebooks=False)
    assert str(exc.value) == (
        f"{path}:5:5: ci.steps.extrct: unknown step 'extrct'; did you mean 'extract'?"
    )


# --------------------------------------------------------------------------- simulation

EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def push_generated(repo: Path, file: Path) -> str:
    """Generate ``file`` in ``repo``, commit everything and push it to ``origin``;
    the file's text."""
    text = generate_ci(repo)[file]
    (repo / file).parent.mkdir(parents=True, exist_ok=True)
    (repo / file).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"add {file.name}")
    git(repo, "push", "-q")
    return text


class JobGraph:
    """Runs a generated file's jobs for one event, as GitHub would, on this machine:
    each job (each matrix job) in its own clone, artifacts through a folder, job
    outputs through ``$GITHUB_OUTPUT``."""

    def __init__(
        self,
        text: str,
        origin: Path,
        work: Path,
        event: str,
        inputs: dict[str, str] | None = None,
        *,
        payload: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        base_env: dict[str, str] | None = None,
    ) -> None:
        self.doc, self.origin, self.work, self.event = load(text), origin, work, event
        self.inputs = {f"inputs.{k}": v for k, v in (inputs or {}).items()}  # dispatch inputs
        self.secrets = {f"secrets.{k}": v for k, v in (secrets or {}).items()}
        self.base_env = os.environ if base_env is None else base_env  # what the runner passes
        work.mkdir(parents=True, exist_ok=True)
        self.event_path = work / "event.json"  # GITHUB_EVENT_PATH
        self.event_path.write_text(json.dumps(payload or _event_payload(event)))
        self.results: dict[str, str] = {}
        self.outputs: dict[str, dict[str, str]] = {}  # job outputs, by job id
        self.matrix_runs: dict[str, list[str]] = {}  # the matrix.item of each run
        self.failures: list[str] = []  # what each failed step printed
        self.artifacts = work / "artifacts"
        self.sha = ""  # the commit every job checks out: the event's, as on GitHub
        self.attempt = 1
        self.bin = work / "bin"
        self.bin.mkdir(parents=True)
        shim = self.bin / "nbflow"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nbflow "$@"\n')
        shim.chmod(0o755)

    def run(self) -> dict[str, str]:
        self.sha = self.sha or git(self.origin, "rev-parse", "main").strip()
        return self._run_jobs(list(self.doc["jobs"]))

    def rerun_failed(self) -> dict[str, str]:
        """ "Re-run failed jobs": a new attempt of the failed jobs and of the jobs that
        need them, from the same commit; the others' results and artifacts are kept."""
        return self.rerun({j for j, result in self.results.items() if result == "failure"})

    def rerun(self, jobs_to_run: set[str]) -> dict[str, str]:
        """A new attempt of ``jobs_to_run`` and of the jobs that need them."""
        jobs, again = self.doc["jobs"], set(jobs_to_run)
        while grown := {j for j in jobs if set(jobs[j].get("needs", [])) & again} - again:
            again |= grown
        self.attempt += 1
        for job_id in again:
            del self.results[job_id]
        return self._run_jobs([j for j in jobs if j in again])

    def _run_jobs(self, pending: list[str]) -> dict[str, str]:
        jobs = self.doc["jobs"]
        while pending:
            job_id = next(j for j in pending if set(jobs[j].get("needs", [])) <= set(self.results))
            pending.remove(job_id)
            self.results[job_id] = self._job(job_id, jobs[job_id])
        return self.results

    def _holds(self, condition: str | None, ok: bool, known: dict[str, Any] | None = None) -> bool:
        if not condition:
            return ok
        payload = json.loads(self.event_path.read_text())
        values = {
            "github.event_name": self.event,
            "github.ref_name": payload.get("ref", "refs/heads/main").rpartition("/")[2],
            "github.event.repository.default_branch": "main",
            "github.event.head_commit.message": _head_message(payload),
            "needs.plan.result": self.results.get("plan", ""),
            **{f"needs.{j}.outputs.{k}": v for j, o in self.outputs.items() for k, v in o.items()},
            **(known or {}),
        }
        expr = condition
        for name in sorted(values, key=len, reverse=True):
            expr = expr.replace(name, repr(values[name]))
        expr = re.sub(r"(?:steps|needs)\.[\w-]+\.outputs\.[\w-]+", "''", expr)  # unset
        expr = expr.replace("always()", "True").replace("cancelled()", "False")
        expr = expr.replace("startsWith(", "_starts(")
        expr = expr.replace("&&", " and ").replace("||", " or ")
        expr = re.sub(r"!(?!=)", " not ", expr)
        holds = eval(expr, {"_starts": str.startswith})  # noqa: S307 - our own file
        # a status function in the condition replaces the implicit success()
        status = ("always()", "cancelled()", "failure()")
        return bool(holds) and (ok or any(f in condition for f in status))

    def _job(self, job_id: str, job: dict[str, Any]) -> str:
        needs_ok = all(self.results[n] == "success" for n in job.get("needs", []))
        if not self._holds(job.get("if"), needs_ok):
            return "skipped"
        matrix = job.get("strategy", {}).get("matrix")
        runs = json.loads(self._expand(matrix, {}))["include"] if matrix else [None]
        self.matrix_runs[job_id] = [self._expand(job["name"], _matrix_values(r)) for r in runs]
        results = [self._job_run(job_id, job, index, run) for index, run in enumerate(runs)]
        return "success" if all(results) else "failure"

    def _job_run(
        self, job_id: str, job: dict[str, Any], index: int, matrix: dict[str, str] | None
    ) -> bool:
        name = job_id if matrix is None else f"{job_id}-{index}"
        clone = self.work / "jobs" / str(self.attempt) / name
        temp = self.work / "temp" / str(self.attempt) / name
        temp.mkdir(parents=True)
        git(self.work, "clone", "-q", str(self.origin), str(clone))
        git(clone, "reset", "-q", "--hard", self.sha)  # actions/checkout: the event's commit
        git(clone, "update-ref", "refs/remotes/origin/main", self.sha)
        values = {"runner.temp": str(temp), "strategy.job-index": index, **_matrix_values(matrix)}
        step_outputs: dict[str, dict[str, str]] = {}
        ok = True
        for step in job["steps"]:
            done = {
                f"steps.{s}.outputs.{k}": v for s, o in step_outputs.items() for k, v in o.items()
            }
            if self._holds(step.get("if"), ok, done):
                ok = self._step(step, clone, temp, values, step_outputs) and ok
        values |= {
            f"steps.{s}.outputs.{k}": v for s, o in step_outputs.items() for k, v in o.items()
        }
        self.outputs[job_id] = {
            k: self._expand(v, values) for k, v in job.get("outputs", {}).items()
        }
        return ok

    def _expand(self, text: str, values: dict[str, Any]) -> str:
        """``${{ X }}`` with the values this simulation knows; ``fromJSON(...)`` of them."""
        event = json.loads(self.event_path.read_text())
        known = {"github.run_id": "42", "github.event.schedule": event.get("schedule", "")}
        known |= {**self.inputs, **self.secrets, **values}
        for job, outputs in self.outputs.items():
            known |= {f"needs.{job}.outputs.{k}": v for k, v in outputs.items()}

        def value(match: re.Match[str]) -> str:
            body = match.group(1)
            inner = re.fullmatch(r"fromJSON\((.+)\)", body)
            return str(known.get(inner.group(1) if inner else body, ""))

        return EXPRESSION.sub(value, str(text))

    def _step(
        self,
        step: dict[str, Any],
        clone: Path,
        temp: Path,
        values: dict[str, Any],
        step_outputs: dict[str, dict[str, str]],
    ) -> bool:
        uses = step.get("uses", "")
        args = {k: self._expand(v, values) for k, v in step.get("with", {}).items()}
        if "upload-artifact" in uses:
            if Path(args["path"]).is_dir():
                assert args["overwrite"], "a re-run job could not upload its piece"
                shutil.rmtree(self.artifacts / args["name"], ignore_errors=True)
                shutil.copytree(args["path"], self.artifacts / args["name"])
            return True
        if "download-artifact" in uses:
            prefix = args["pattern"].rstrip("*")
            for artifact in sorted(self.artifacts.glob(f"{prefix}*")):
                shutil.copytree(artifact, args["path"], dirs_exist_ok=True)
            return True
        if uses or step["name"].startswith("install nbflow"):
            return True  # checkout: the clone; Python and nbflow: this test's
        output = temp / f"output-{len(step_outputs)}"
        output.touch()
        env = {k: self._expand(v, values) for k, v in step.get("env", {}).items()}
        env = {
            **self.base_env,
            **env,
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_EVENT_NAME": self.event,
            "GITHUB_EVENT_PATH": str(self.event_path),
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=clone, env=env, capture_output=True, text=True
        )
        if "id" in step:
            lines = output.read_text().splitlines()
            step_outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
        if done.returncode != 0:
            self.failures.append(
                f"{clone.name}: {step['name']}: exit {done.returncode}\n{done.stderr}"
            )
        return done.returncode == 0


def _head_message(payload: dict[str, Any]) -> str:
    head = payload.get("head_commit") or (payload.get("commits") or [{}])[-1]
    return str(head.get("message", ""))


def _event_payload(event: str) -> dict[str, Any]:
    """What GitHub writes to ``$GITHUB_EVENT_PATH``, as far as nbflow reads it."""
    if event != "push":
        return {}
    return {"ref": "refs/heads/main", "commits": [{"message": "change"}]}


def _matrix_values(matrix: dict[str, str] | None) -> dict[str, str]:
    return {f"matrix.{k}": v for k, v in (matrix or {}).items()}


def test_the_job_graph_simulated_records_what_a_local_run_does(
    git_repo: Path, tmp_path: Path
) -> None:
    per_step_project(git_repo)
    text = push_generated(git_repo, FILE)
    origin = tmp_path / "origin.git"

    graph = JobGraph(text, origin, tmp_path / "gh", "push")
    results = graph.run()

    assert results == {
        "plan": "success",
        "step-a": "success",
        "step-b": "success",
        "step-c": "success",
        "step-d": "failure",
        "step-e": "skipped",
        "step-f": "success",
        "assemble": "failure",
        "pull_request": "skipped",
    }, graph.failures
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(origin), str(check))
    assert git(check, "log", "-1", "--format=%s").startswith("nbflow: branching")
    (run_dir,) = iter_run_dirs(check / "runs", "branching")
    record = read_record(run_dir)
    assert record.trigger == "push"
    local = tmp_path / "local"
    git(tmp_path, "clone", "-q", str(origin), str(local))
    shutil.rmtree(local / "runs")
    subprocess.run(
        [sys.executable, "-m", "nbflow", "run", "branching"],
        cwd=local,
        capture_output=True,
        check=False,
    )
    (local_dir,) = iter_run_dirs(local / "runs", "branching")
    assert comparable(record) == comparable(read_record(local_dir))
    for notebook in ["a", "b", "c", "d", "f"]:
        ours = (run_dir / f"{notebook}.ipynb").read_text().replace(record.run_id, "RUN")
        theirs = (local_dir / f"{notebook}.ipynb").read_text()
        assert ours == theirs.replace(local_dir.name, "RUN")


def test_rerun_failed_jobs_from_the_original_commit_commits_the_new_attempt(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = per_step_project(git_repo) / "workflows" / "branching"
    write_notebook(folder / "d.ipynb", "total = 0", ["import os\nassert os.environ['D_OK']"])
    push_generated(git_repo, FILE)
    origin = tmp_path / "origin.git"
    graph = JobGraph(generate_ci(git_repo)[FILE], origin, tmp_path / "gh", "push")
    first = dict(graph.run())
    first_commit = git(origin, "rev-parse", "main").strip()
    monkeypatch.setenv("D_OK", "1")  # what made d fail is fixed outside the repository

    again = graph.rerun_failed()

    assert first["step-d"] == "failure" and first["assemble"] == "failure"
    assert again == {**first, "step-d": "success", "step-e": "success", "assemble": "success"}, (
        graph.failures
    )
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(origin), str(check))
    (run_dir,) = iter_run_dirs(check / "runs", "branching")
    folder_log = git(check, "log", "--format=%H %s", "--", run_dir.relative_to(check).as_posix())
    assert [line.split(" ", 1)[1].split(" (")[0] for line in folder_log.splitlines()] == [
        "nbflow: branching succeeded",
        "nbflow: branching failed",
    ]
    assert folder_log.splitlines()[1].startswith(first_commit)  # the first attempt, kept
    record = read_record(run_dir)
    assert (record.status, record.step("d").status, record.step("e").status) == (
        RunStatus.SUCCEEDED,
        "succeeded",
        "succeeded",
    )
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "README.md",
        *(f"{s}.ipynb" for s in "abcdef"),
        "run.json",
    ]


# --------------------------------------------------------------------------- sweeps

SWEEP_FILE = Path(".github/workflows/nbflow-sweep.yml")


def sweep_project(root: Path, foreach: str = '"${{ params.regions }}"') -> Path:
    """``root`` holding the sweep workflow (prepare, region per item, combine), laid
    out one job per step."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbflow.yaml").write_text("", encoding="utf-8")
    manifest = sweep_workflow(root / "workflows" / "sweep", foreach)
    text = manifest.read_text(encoding="utf-8")
    head = "on: {push: true, dispatch: true}\nci: {jobs: per-step}\nparameters:\n"
    manifest.write_text(text.replace("parameters:\n", head, 1), encoding="utf-8")
    return manifest


def test_a_known_sweep_is_a_matrix_that_passes_actionlint(tmp_path: Path) -> None:
    files = generate_ci(sweep_project(tmp_path / "project").parents[2])
    jobs = load(files[SWEEP_FILE])["jobs"]

    assert_golden("ci/nbflow-sweep-matrix.yml", files[SWEEP_FILE])
    lint(files, tmp_path / "lint")
    region = jobs["step-region"]
    assert region["strategy"] == {
        "fail-fast": False,
        "matrix": "${{ fromJSON(needs.plan.outputs.items-region) }}",
    }
    assert region["name"] == "sweep / region [${{ matrix.name }}]"
    assert jobs["plan"]["outputs"] == {
        "items-region": "${{ steps.matrix.outputs.items-region }}",
        "skip": "${{ steps.guard.outputs.skip }}",
    }
    assert '--item "$NBFLOW_ITEM"' in region["steps"][-2]["run"]
    assert region["steps"][-1]["with"]["name"].endswith("-region.${{ strategy.job-index }}")
    assert "strategy" not in jobs["step-combine"]


def test_a_sweep_over_an_upstream_output_stays_one_job(tmp_path: Path) -> None:
    root = sweep_project(tmp_path, '"${{ steps.prepare.outputs.regions }}"').parents[2]
    jobs = load(generate_ci(root)[SWEEP_FILE])["jobs"]

    assert "strategy" not in jobs["step-region"]
    assert jobs["plan"]["outputs"] == {"skip": "${{ steps.guard.outputs.skip }}"}
    assert "--item" not in str(jobs["step-region"])


@pytest.mark.parametrize(
    ("count", "jobs", "first"),
    [
        (3, 3, {"item": "0", "name": "r0"}),
        (0, 1, {"item": "", "name": "none"}),
        (MATRIX_LIMIT, MATRIX_LIMIT, {"item": "0", "name": "r0"}),
        (600, MATRIX_LIMIT, {"item": "0,256,512", "name": "r0 +2 more"}),
    ],
)
def test_matrix_shares_items_within_githubs_limit(
    tmp_path: Path, count: int, jobs: int, first: dict[str, str]
) -> None:
    workflow = load_manifest(sweep_project(tmp_path))
    record = RunRecord("sweep", "2026-11-20T063000Z-0001", RunStatus.RUNNING, "push", "2026-11-20")
    regions = [f"r{n}" for n in range(count)]

    matrices = sweep_matrices(workflow, Seed(replace(record, parameters={"regions": regions})))

    shares = matrices["items-region"]["include"]
    assert len(shares) == jobs and shares[0] == first
    every = sorted(int(i) for share in shares for i in share["item"].split(",") if i)
    assert every == list(range(count))


def test_the_matrix_simulated_records_what_a_local_run_does(git_repo: Path, tmp_path: Path) -> None:
    sweep_project(git_repo)
    text = push_generated(git_repo, SWEEP_FILE)
    origin = tmp_path / "origin.git"

    graph = JobGraph(text, origin, tmp_path / "gh", "push")
    results = graph.run()

    assert results == {
        "plan": "success",
        "step-prepare": "success",
        "step-region": "success",
        "step-combine": "success",
        "assemble": "success",
        "pull_request": "skipped",
    }, graph.failures
    assert graph.matrix_runs["step-region"] == [
        f"sweep / region [{r}]" for r in ("eu", "us", "apac")
    ]
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(origin), str(check))
    (run_dir,) = iter_run_dirs(check / "runs", "sweep")
    record = read_record(run_dir)
    assert sorted(p.name for p in run_dir.glob("region.*.ipynb")) == [
        f"region.{n}.ipynb" for n in range(3)
    ]
    local = tmp_path / "local"
    git(tmp_path, "clone", "-q", str(origin), str(local))
    shutil.rmtree(local / "runs")
    subprocess.run([sys.executable, "-m", "nbflow", "run", "sweep"], cwd=local, check=True)
    (local_dir,) = iter_run_dirs(local / "runs", "sweep")
    assert comparable(record) == comparable(read_record(local_dir))
    assert record.step("combine").outputs == {"sum": 83}


def test_a_matrix_part_lost_after_combine_ran_is_recorded_as_combine_saw_it(
    git_repo: Path, tmp_path: Path
) -> None:
    sweep_project(git_repo)
    origin = tmp_path / "origin.git"
    graph = JobGraph(push_generated(git_repo, SWEEP_FILE), origin, tmp_path / "gh", "push")
    assert graph.run()["assemble"] == "success", graph.failures
    first = git(origin, "rev-parse", "main")
    shutil.rmtree(graph.artifacts / "nbflow-sweep-42-region.1")  # the artifact expired

    assert graph.rerun({"assemble"})["assemble"] == "success", graph.failures

    assert git(origin, "rev-parse", "main^") == first
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(origin), str(check))
    (run_dir,) = iter_run_dirs(check / "runs", "sweep")
    record = read_record(run_dir)
    region = record.step("region")
    assert [(i.status.value, i.notebook) for i in region.items] == [
        ("succeeded", "region.0.ipynb"),
        ("succeeded", ""),
        ("succeeded", "region.2.ipynb"),
    ]
    assert region.items[1].reason == (
        "no part: recorded from the piece of 'combine', which ran after it; its notebook is missing"
    )
    assert (record.status.value, record.step("combine").outputs) == ("succeeded", {"sum": 83})
    assert not (run_dir / "region.1.ipynb").exists()


def test_run_if_steps_run_on_github_after_a_failure_as_locally(
    git_repo: Path, tmp_path: Path
) -> None:
    """GitHub skips a job whose need failed; a step whose ``run_if`` runs it after a
    failure gets ``!cancelled()``, and its rule decides in the job."""
    manifest = per_step_project(git_repo) / "workflows" / "branching" / "workflow.yaml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8")
        + "  - {id: alert, notebook: e.ipynb, needs: [d], run_if: any_failed}\n"
        + "  - {id: tidy, notebook: e.ipynb, needs: [e], run_if: all_done}\n",
        encoding="utf-8",
    )
    files = generate_ci(git_repo)
    lint(files, tmp_path / "lint")
    jobs = load(files[FILE])["jobs"]
    assert (
        jobs["step-alert"]["if"]
        == jobs["step-tidy"]["if"]
        == ("!cancelled() && needs.plan.result == 'success' && needs.plan.outputs.skip != 'true'")
    )
    assert jobs["step-e"]["if"] == "needs.plan.outputs.skip != 'true'"
    text = push_generated(git_repo, FILE)
    origin = tmp_path / "origin.git"

    results = JobGraph(text, origin, tmp_path / "gh", "push").run()

    assert (results["step-d"], results["step-e"]) == ("failure", "skipped")
    assert (results["step-alert"], results["step-tidy"]) == ("success", "success")
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(origin), str(check))
    (run_dir,) = iter_run_dirs(check / "runs", "branching")
    record = read_record(run_dir)
    assert [(s, record.step(s).status.value) for s in ("e", "alert", "tidy")] == [
        ("e", "skipped"),
        ("alert", "succeeded"),
        ("tidy", "succeeded"),
    ]
    assert record.step("alert").reason == "run_if any_failed: 'd' failed"
    assert record.step("tidy").reason == (
        "run_if all_done: every step it needs is done; 'e' skipped after a failure"
    )
