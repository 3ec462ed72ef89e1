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
)
from ruamel.yaml import YAML
from test_ci import lint

from nbflow.ci import generate_ci
from nbflow.ci_graph import MATRIX_LIMIT, sweep_matrices
from nbflow.errors import ManifestError
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
    assert jobs["assemble"]["if"] == "always() && needs.plan.result == 'success'"
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
        self, text: str, origin: Path, work: Path, event: str, inputs: dict[str, str] | None = None
    ) -> None:
        self.doc, self.origin, self.work, self.event = load(text), origin, work, event
        self.inputs = {f"inputs.{k}": v for k, v in (inputs or {}).items()}  # dispatch inputs
        self.results: dict[str, str] = {}
        self.outputs: dict[str, dict[str, str]] = {}  # job outputs, by job id
        self.matrix_runs: dict[str, list[str]] = {}  # the matrix.item of each run
        self.failures: list[str] = []  # what each failed step printed
        self.artifacts = work / "artifacts"
        self.bin = work / "bin"
        self.bin.mkdir(parents=True)
        shim = self.bin / "nbflow"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nbflow "$@"\n')
        shim.chmod(0o755)

    def run(self) -> dict[str, str]:
        jobs = self.doc["jobs"]
        pending = list(jobs)
        while pending:
            job_id = next(j for j in pending if set(jobs[j].get("needs", [])) <= set(self.results))
            pending.remove(job_id)
            self.results[job_id] = self._job(job_id, jobs[job_id])
        return self.results

    def _holds(self, condition: str | None, ok: bool) -> bool:
        if not condition:
            return ok
        values = {
            "github.event_name": self.event,
            "github.event.head_commit.message": "change",
            "needs.plan.result": self.results.get("plan", ""),
        }
        expr = condition
        for name, value in values.items():
            expr = expr.replace(name, repr(value))
        expr = expr.replace("always()", "True").replace("startsWith(", "_starts(")
        expr = expr.replace("&&", " and ").replace("||", " or ")
        expr = re.sub(r"!(?!=)", " not ", expr)
        holds = eval(expr, {"_starts": str.startswith})  # noqa: S307 - our own file
        return bool(holds) and (ok or "always()" in condition)

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
        clone, temp = self.work / "jobs" / name, self.work / "temp" / name
        temp.mkdir(parents=True)
        git(self.work, "clone", "-q", str(self.origin), str(clone))
        values = {"runner.temp": str(temp), "strategy.job-index": index, **_matrix_values(matrix)}
        step_outputs: dict[str, dict[str, str]] = {}
        ok = True
        for step in job["steps"]:
            if self._holds(step.get("if"), ok):
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
        known = {"github.run_id": "42", **self.inputs, **values}
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
                shutil.copytree(args["path"], self.artifacts / args["name"], dirs_exist_ok=True)
            return True
        if "download-artifact" in uses:
            prefix = args["pattern"].rstrip("*")
            for artifact in sorted(self.artifacts.glob(f"{prefix}*")):
                shutil.copytree(artifact, args["path"], dirs_exist_ok=True)
            return True
        if uses or step["name"] == "install nbflow":
            return True  # checkout: the clone; Python and nbflow: this test's
        output = temp / f"output-{len(step_outputs)}"
        output.touch()
        env = {k: self._expand(v, values) for k, v in step.get("env", {}).items()}
        env = {
            **os.environ,
            **env,
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(output),
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
    assert jobs["plan"]["outputs"] == {"items-region": "${{ steps.matrix.outputs.items-region }}"}
    assert '--item "$NBFLOW_ITEM"' in region["steps"][-2]["run"]
    assert region["steps"][-1]["with"]["name"].endswith("-region.${{ strategy.job-index }}")
    assert "strategy" not in jobs["step-combine"]


def test_a_sweep_over_an_upstream_output_stays_one_job(tmp_path: Path) -> None:
    root = sweep_project(tmp_path, '"${{ steps.prepare.outputs.regions }}"').parents[2]
    jobs = load(generate_ci(root)[SWEEP_FILE])["jobs"]

    assert "strategy" not in jobs["step-region"]
    assert "outputs" not in jobs["plan"]
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
