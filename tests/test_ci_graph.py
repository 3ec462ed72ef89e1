"""``ci: {jobs: per-step}``: one GitHub Actions job per step. Golden copy, actionlint,
hardening, and the job graph simulated locally: each job's commands in its own clone
of a repository, in dependency order, artifacts through folders, compared with a
local run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_golden, branching_workflow, comparable, git, write_manifest
from ruamel.yaml import YAML
from test_ci import lint

from nbflow.ci import generate_ci
from nbflow.errors import ManifestError
from nbflow.manifest.load import load_manifest
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


class JobGraph:
    """Runs a generated file's jobs for one event, as GitHub would, on this machine."""

    def __init__(self, text: str, origin: Path, work: Path, event: str) -> None:
        self.doc, self.origin, self.work, self.event = load(text), origin, work, event
        self.results: dict[str, str] = {}
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
        clone, temp = self.work / "jobs" / job_id, self.work / "temp" / job_id
        temp.mkdir(parents=True)
        git(self.work, "clone", "-q", str(self.origin), str(clone))
        ok = True
        for step in job["steps"]:
            if self._holds(step.get("if"), ok):
                ok = self._step(step, clone, temp) and ok
        return "success" if ok else "failure"

    def _expand(self, text: str, temp: Path) -> str:
        values = {"runner.temp": str(temp), "github.run_id": "42"}
        return EXPRESSION.sub(lambda m: values.get(m.group(1), ""), str(text))

    def _step(self, step: dict[str, Any], clone: Path, temp: Path) -> bool:
        uses = step.get("uses", "")
        args = {k: self._expand(v, temp) for k, v in step.get("with", {}).items()}
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
        env = {k: self._expand(v, temp) for k, v in step.get("env", {}).items()}
        env = {
            **os.environ,
            **env,
            "RUNNER_TEMP": str(temp),
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=clone, env=env, capture_output=True, text=True
        )
        return done.returncode == 0


def test_the_job_graph_simulated_records_what_a_local_run_does(
    git_repo: Path, tmp_path: Path
) -> None:
    per_step_project(git_repo)
    (git_repo / ".github" / "workflows").mkdir(parents=True)
    (git_repo / FILE).write_text(generate_ci(git_repo)[FILE], encoding="utf-8")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "add branching")
    git(git_repo, "push", "-q")
    origin = tmp_path / "origin.git"

    results = JobGraph((git_repo / FILE).read_text(), origin, tmp_path / "gh", "push").run()

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
    }
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
