"""Manifests → GitHub Actions files: golden copies, hardening, actionlint, check mode.

Golden files live in tests/golden/ci/; run with UPDATE_GOLDEN=1 to rewrite them,
then review the diff. Nothing here writes into this repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_golden, write_manifest, write_notebook
from helpers import copy_examples as copy_example_workflows
from ruamel.yaml import YAML

import nbflow
import nbflow.version
from nbflow.cli import main
from nbflow.errors import ConfigError, ManifestError
from nbflow.github.steps import MAX_TIMEOUT_MINUTES, timeout_minutes
from nbflow.github.workflows import GENERATED_HEADER, check_ci, generate_ci, write_ci
from nbflow.manifest.load import load_manifest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "ci"
SHA_PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{40}$")

EVERYTHING = """
    name: everything
    description: Every parameter type, several crons, secrets and a pull-request target.
    on:
      schedule: ["0 6 * * 1-5", "30 18 * * *"]
      push: true
      dispatch: true
    parameters:
      label: {type: str, default: north, description: 'Text; may hold $HOME, `x` and "quotes".'}
      count: {type: int, default: 3, description: How many.}
      ratio: {type: float, default: 0.5}
      dry_run: {type: bool, default: false, description: Only pretend.}
      day: {type: date, default: today}
      at: {type: datetime, default: "2024-01-31T08:00:00"}
      out: {type: path, required: true, description: Where to write.}
      regions: {type: list, default: [eu, us]}
      options: {type: dict, default: {depth: 2}}
      mode: {type: choice, choices: [fast, slow, 3], default: fast}
    secrets: [API_TOKEN, DB_PASSWORD]
    commit: {target: pr}
    defaults: {timeout: 2h, retries: 1}
    steps:
      - id: first
        notebook: first.ipynb
      - id: second
        notebook: second.ipynb
"""

MANY = (
    """
    name: many
    on:
      schedule: ["0 1 * * *", "0 13 * * *"]
      dispatch: true
    commit: {target: runs-branch}
    defaults: {timeout: 90s}
    parameters:
"""
    + "".join(f"      p{i}: {{type: int, default: {i}}}\n" for i in range(11))
    + """
    steps:
      - id: only
        notebook: only.ipynb
"""
)

QUIET = """
    name: quiet
    steps:
      - id: only
        notebook: only.ipynb
"""


# --------------------------------------------------------------------------- helpers


def copy_examples(root: Path) -> Path:
    """A user project holding this repository's two example workflows (no pyproject)."""
    copy_example_workflows(root)
    (root / "nbflow.yaml").write_text("", encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user project with the examples plus manifests exercising every feature."""
    root = copy_examples(tmp_path / "project")
    write_manifest(root / "workflows" / "everything", EVERYTHING)
    write_manifest(root / "workflows" / "many", MANY)
    write_manifest(root / "workflows" / "quiet", QUIET)
    return root


def load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def steps(doc: Any) -> Iterator[dict[str, Any]]:
    for job in doc["jobs"].values():
        yield from job["steps"]


def tool(name: str) -> str:
    """A command installed next to this Python (the venv), else on PATH; skip if absent."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' provides it)")
    return found


def lint(files: dict[Path, str], folder: Path) -> None:
    """actionlint and the GitHub workflow JSON Schema both accept every file."""
    written = []
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(str(path))
    actionlint = tool("actionlint")
    try:
        result = subprocess.run(
            [actionlint, "-no-color", *written], cwd=folder, capture_output=True, text=True
        )
    except OSError as exc:  # e.g. a wheel built for another platform
        pytest.skip(f"actionlint cannot run here: {exc}")
    report = result.stdout + result.stderr
    assert result.returncode == 0 and not report, report
    schema = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *written],
        capture_output=True,
        text=True,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr


# --------------------------------------------------------------------------- golden, lint


def test_examples_match_golden(tmp_path: Path) -> None:
    files = generate_ci(copy_examples(tmp_path))
    assert sorted(p.as_posix() for p in files) == [
        ".github/workflows/nbflow-finance-daily.yml",
        ".github/workflows/nbflow-model-grid.yml",
        ".github/workflows/nbflow-regional-sales.yml",
    ]
    for relative, text in files.items():
        assert_golden(f"ci/{relative.name}", text)


def test_every_feature_matches_golden(project: Path) -> None:
    files = generate_ci(project)
    assert_golden(
        "ci/nbflow-everything.yml", files[Path(".github/workflows/nbflow-everything.yml")]
    )
    assert_golden("ci/nbflow-many.yml", files[Path(".github/workflows/nbflow-many.yml")])


def test_every_generated_file_passes_actionlint_and_schema(project: Path, tmp_path: Path) -> None:
    files = generate_ci(project)
    assert len(files) == 5  # quiet has no triggers, so no file
    lint(files, tmp_path / "lint")


def test_this_repository_files_pass_actionlint_and_schema(tmp_path: Path) -> None:
    lint(generate_ci(REPO), tmp_path / "lint")


def test_this_repository_carries_fresh_generated_files() -> None:
    """`nbflow ci generate` was run and committed; regenerate if this fails."""
    files = generate_ci(REPO)
    assert sorted(p.name for p in files) == [
        "nbflow-finance-daily.yml",
        "nbflow-model-grid.yml",
        "nbflow-regional-sales.yml",
    ]
    for relative, text in files.items():
        assert (REPO / relative).read_bytes().decode("utf-8") == text, (
            f'{relative} is stale: run "nbflow ci generate"'
        )
    assert check_ci(REPO) == []


def test_generation_is_deterministic_and_independent_of_location(
    project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere" / "clone"
    shutil.copytree(project, elsewhere)
    first, second = generate_ci(project), generate_ci(project)
    assert first == second
    assert generate_ci(elsewhere) == first


# --------------------------------------------------------------------------- hardening


def test_hardening_holds_for_every_file(project: Path) -> None:
    for relative, text in generate_ci(project).items():
        doc = load(text)
        assert text.startswith(f"{GENERATED_HEADER} from workflows/"), relative
        assert "pull_request_target" not in text
        assert doc["permissions"] == {}
        for step in steps(doc):
            assert "${{" not in step.get("run", ""), (relative, step)
            if "uses" in step:
                assert SHA_PINNED.match(step["uses"]), step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            pushes = "--push" in step.get("run", "")
            assert ("GITHUB_TOKEN" in step.get("env", {})) == pushes, (relative, step)
            if "nbflow run " in step.get("run", ""):  # notebooks never share a tree with it
                assert "GITHUB_TOKEN" not in step.get("env", {}), (relative, step)
        assert re.findall(r"@[0-9a-f]{40}  # v\d+\.\d+\.\d+$", text, re.M)


def test_pull_request_job_is_read_only_without_secrets(project: Path) -> None:
    doc = load(generate_ci(project)[Path(".github/workflows/nbflow-everything.yml")])
    job = doc["jobs"]["pull_request"]
    assert job["permissions"] == {"contents": "read"}
    assert job["if"] == "github.event_name == 'pull_request'"
    assert "secrets." not in repr(job)
    assert job["steps"][-1]["run"] == "nbflow run everything --trigger pull_request"
    assert "--commit" not in repr(job) and "--push" not in repr(job)


def test_run_job_permissions_follow_the_commit_target(project: Path) -> None:
    files = generate_ci(project)
    jobs = {p.name: load(t)["jobs"] for p, t in files.items()}
    assert jobs["nbflow-everything.yml"]["run"]["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
    }
    for name in ("nbflow-many.yml", "nbflow-finance-daily.yml"):
        assert jobs[name]["run"]["permissions"] == {"contents": "write"}
    assert jobs["nbflow-everything.yml"]["run"]["concurrency"] == {
        "group": "nbflow-everything-${{ github.ref }}",
        "cancel-in-progress": False,
    }


def test_runs_never_trigger_runs(project: Path) -> None:
    doc = load(generate_ci(project)[Path(".github/workflows/nbflow-everything.yml")])
    for event in ("push", "pull_request"):
        assert doc["on"][event]["paths"] == ["workflows/everything/**", "!runs/**"]
    steps = doc["jobs"]["run"]["steps"]
    guard = next(s for s in steps if s.get("id") == "guard")
    assert guard == {
        "name": "skip a push of run commits only",
        "id": "guard",
        "if": "github.event_name == 'push'",
        "run": 'nbflow ci guard >> "$GITHUB_OUTPUT"',
    }
    push = next(s for s in steps if s.get("name") == "nbflow run (push)")
    assert push["if"] == "github.event_name == 'push' && steps.guard.outputs.skip != 'true'"
    assert steps.index(guard) < steps.index(push)


def test_a_push_runs_only_on_the_default_branch(project: Path) -> None:
    """Other branches are checked through their pull request: one event, one job."""
    doc = load(generate_ci(project)[Path(".github/workflows/nbflow-everything.yml")])
    assert doc["on"]["push"]["branches"] == ["**"]
    assert doc["jobs"]["run"]["if"] == (
        "github.event_name != 'pull_request' && (github.event_name != 'push' || "
        "github.ref_name == github.event.repository.default_branch)"
    )
    assert doc["jobs"]["pull_request"]["if"] == "github.event_name == 'pull_request'"


def test_a_push_runs_on_the_branches_the_manifest_names(project: Path, tmp_path: Path) -> None:
    manifest = project / "workflows" / "everything" / "workflow.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        text.replace("push: true", "push: {branches: [main, 'release/**']}"), encoding="utf-8"
    )
    files = generate_ci(project)
    doc = load(files[Path(".github/workflows/nbflow-everything.yml")])
    assert doc["on"]["push"] == {
        "branches": ["main", "release/**"],
        "paths": ["workflows/everything/**", "!runs/**"],
    }
    assert doc["jobs"]["run"]["if"] == "github.event_name != 'pull_request'"
    lint(files, tmp_path / "lint")


def test_secrets_reach_only_the_running_steps(project: Path) -> None:
    doc = load(generate_ci(project)[Path(".github/workflows/nbflow-everything.yml")])
    running = 0
    for step in doc["jobs"]["run"]["steps"]:
        secret = "API_TOKEN" in step.get("env", {})
        assert secret == ("nbflow run " in step.get("run", "")), step
        if secret:
            running += 1
            assert step["env"]["API_TOKEN"] == "${{ secrets.API_TOKEN }}"
            assert step["env"]["DB_PASSWORD"] == "${{ secrets.DB_PASSWORD }}"
    assert running == 3  # push, schedule, dispatch


# --------------------------------------------------------------------------- triggers, inputs


def test_dispatch_inputs_are_typed(project: Path) -> None:
    doc = load(generate_ci(project)[Path(".github/workflows/nbflow-everything.yml")])
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert list(inputs) == [
        "label", "count", "ratio", "dry_run", "day", "at", "out", "regions", "options", "mode",
    ]  # fmt: skip
    assert {name: spec["type"] for name, spec in inputs.items()} == {
        "label": "string",
        "count": "number",
        "ratio": "number",
        "dry_run": "boolean",
        "day": "string",
        "at": "string",
        "out": "string",
        "regions": "string",
        "options": "string",
        "mode": "choice",
    }
    assert inputs["count"] == {
        "description": "How many.", "required": False, "default": 3, "type": "number",
    }  # fmt: skip
    assert inputs["out"] == {"description": "Where to write.", "required": True, "type": "string"}
    assert inputs["day"] == {
        "description": "day (empty: today)",
        "required": False,
        "type": "string",
    }
    assert inputs["regions"]["default"] == '["eu", "us"]'
    assert inputs["options"]["default"] == '{"depth": 2}'
    assert inputs["mode"]["options"] == ["fast", "slow", "3"]
    assert inputs["mode"]["default"] == "fast"
    assert inputs["dry_run"]["default"] is False


def test_dispatch_passes_inputs_through_env(project: Path) -> None:
    doc = load(generate_ci(project)[Path(".github/workflows/nbflow-everything.yml")])
    step = next(s for s in doc["jobs"]["run"]["steps"] if s.get("name") == "nbflow run (dispatch)")
    assert step["env"]["NBFLOW_INPUT_OUT"] == "${{ inputs.out }}"
    assert 'args+=(-p "out=$NBFLOW_INPUT_OUT")' in step["run"]
    assert step["run"].endswith(
        'nbflow run everything --trigger dispatch "${args[@]}" > "$RUNNER_TEMP/nbflow-run"\n'
    )


def test_more_parameters_than_inputs_become_one_json_input(project: Path) -> None:
    doc = load(generate_ci(project)[Path(".github/workflows/nbflow-many.yml")])
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert list(inputs) == ["parameters"]
    assert inputs["parameters"]["type"] == "string"
    assert inputs["parameters"]["default"] == "{}"
    step = next(s for s in doc["jobs"]["run"]["steps"] if s.get("name") == "nbflow run (dispatch)")
    assert step["env"]["NBFLOW_PARAMETERS"] == "${{ inputs.parameters }}"
    assert step["run"] == (
        'nbflow run many --trigger dispatch --params-json "$NBFLOW_PARAMETERS" '
        '> "$RUNNER_TEMP/nbflow-run"'
    )


def test_several_crons_pass_the_one_that_fired(project: Path) -> None:
    doc = load(generate_ci(project)[Path(".github/workflows/nbflow-many.yml")])
    assert doc["on"]["schedule"] == [{"cron": "0 1 * * *"}, {"cron": "0 13 * * *"}]
    assert "push" not in doc["on"] and "pull_request" not in doc["jobs"]
    step = next(s for s in doc["jobs"]["run"]["steps"] if s.get("name") == "nbflow run (schedule)")
    assert step["env"]["NBFLOW_CRON"] == "${{ github.event.schedule }}"
    assert step["run"] == (
        'nbflow run many --trigger schedule --schedule "$NBFLOW_CRON" --catch-up '
        '> "$RUNNER_TEMP/nbflow-run"'
    )


def test_run_commands_follow_the_contract(tmp_path: Path) -> None:
    doc = load(
        generate_ci(copy_examples(tmp_path))[Path(".github/workflows/nbflow-finance-daily.yml")]
    )
    runs = {s["name"]: s["run"] for s in doc["jobs"]["run"]["steps"] if "name" in s}
    assert runs["nbflow run (push)"] == (
        'nbflow run finance-daily --trigger push > "$RUNNER_TEMP/nbflow-run"'
    )
    assert runs["nbflow run (schedule)"] == (
        'nbflow run finance-daily --trigger schedule --schedule "$NBFLOW_CRON" --catch-up '
        '> "$RUNNER_TEMP/nbflow-run"'
    )
    assert runs["commit and push the run"] == (
        'if [ ! -s "$RUNNER_TEMP/nbflow-run" ]; then echo "no run to commit"; exit 0; fi\n'
        'while read -r run; do nbflow commit "$(basename "$run")" --push; '
        'done < "$RUNNER_TEMP/nbflow-run"\n'
    )
    assert runs["install nbflow and the project's dependencies"] == (
        f'uv pip install --system "nbflow-workflows=={nbflow.__version__}"'
    )
    assert 'git config user.name "github-actions[bot]"' in runs["git identity for the run commit"]


def test_timeout_is_the_sum_of_step_timeouts_capped(project: Path) -> None:
    files = {p.name: load(t) for p, t in generate_ci(project).items()}
    # finance-daily: 7 steps x 10m, load_warehouse 3 attempts + 2 x 5s delay,
    # check_sources waits for its exports up to 2h, + 10m setup
    assert files["nbflow-finance-daily.yml"]["jobs"]["run"]["timeout-minutes"] == 221
    assert files["nbflow-many.yml"]["jobs"]["run"]["timeout-minutes"] == 12
    assert files["nbflow-everything.yml"]["jobs"]["run"]["timeout-minutes"] == MAX_TIMEOUT_MINUTES


FINANCE = Path(".github/workflows/nbflow-finance-daily.yml")
PIN = f'"nbflow-workflows=={nbflow.__version__}"'
PYPROJECT = '[project]\nname = "mine"\nversion = "1"\ndependencies = ["pandas>=2"]\n'


def install_steps(root: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """setup-python's and setup-uv's `with:` and the install step's script."""
    steps = load(generate_ci(root)[FINANCE])["jobs"]["run"]["steps"]
    return steps[1]["with"], steps[2]["with"], steps[3]["run"]


@pytest.mark.parametrize(
    ("files", "install", "cache"),
    [
        ({}, f"uv pip install --system {PIN}", FINANCE.as_posix()),
        (
            {"requirements.txt": "duckdb\n"},
            f"uv pip install --system {PIN} -r requirements.txt",
            "requirements.txt",
        ),
        (
            {"pyproject.toml": PYPROJECT},
            f"uv pip install --system {PIN} -r pyproject.toml",
            "pyproject.toml",
        ),
        (
            {"pyproject.toml": PYPROJECT, "uv.lock": "version = 1\n", "requirements.txt": "x\n"},
            'UV_PROJECT_ENVIRONMENT="$pythonLocation" uv sync --locked --inexact\n'
            f"uv pip install --system {PIN}\n",
            "uv.lock",
        ),
    ],
    ids=["nothing", "requirements", "pyproject", "lock"],
)
def test_install_takes_the_project_dependencies_with_uv(
    tmp_path: Path, files: dict[str, str], install: str, cache: str
) -> None:
    root = copy_examples(tmp_path / "project")
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    _, uv, script = install_steps(root)
    assert script == install
    assert uv == {"enable-cache": True, "cache-dependency-glob": cache}
    lint(generate_ci(root), tmp_path / "lint")


def test_nbflow_yaml_chooses_the_dependency_files(tmp_path: Path) -> None:
    root = copy_examples(tmp_path / "project")
    (root / "requirements.txt").write_text("duckdb\n", encoding="utf-8")
    (root / "requirements-nb.txt").write_text("pandas\n", encoding="utf-8")
    (root / "nbflow.yaml").write_text(
        "ci: {dependencies: [requirements.txt, requirements-nb.txt]}\n", encoding="utf-8"
    )
    _, uv, script = install_steps(root)
    assert script == (f"uv pip install --system {PIN} -r requirements.txt -r requirements-nb.txt")
    assert uv["cache-dependency-glob"] == "requirements.txt\nrequirements-nb.txt\n"

    (root / "nbflow.yaml").write_text("ci: {dependencies: []}\n", encoding="utf-8")
    assert install_steps(root)[2] == f"uv pip install --system {PIN}"

    (root / "nbflow.yaml").write_text("ci: {dependencies: [reqs.txt]}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        generate_ci(root)
    assert str(exc.value) == (
        f"{root / 'nbflow.yaml'}: ci.dependencies: reqs.txt does not exist; list files "
        f"relative to {root}, or `dependencies: []` to install nothing besides nbflow"
    )


@pytest.mark.parametrize(
    ("files", "python"),
    [
        ({}, {"python-version": "3.12"}),
        ({".python-version": "3.13\n"}, {"python-version-file": ".python-version"}),
        (
            {"pyproject.toml": PYPROJECT + 'requires-python = ">=3.12.1"\n'},
            {"python-version": "3.12"},
        ),
        ({"pyproject.toml": PYPROJECT + 'requires-python = ">=3.8"\n'}, {"python-version": "3.11"}),
        (
            {
                "pyproject.toml": PYPROJECT + 'requires-python = ">=3.8"\n',
                "nbflow.yaml": "ci: {python: '3.14'}\n",
            },
            {"python-version": "3.14"},
        ),
    ],
    ids=[
        "default",
        "python-version-file",
        "requires-python",
        "oldest-nbflow-runs-on",
        "nbflow.yaml",
    ],
)
def test_python_comes_from_the_project(
    tmp_path: Path, files: dict[str, str], python: dict[str, str]
) -> None:
    root = copy_examples(tmp_path / "project")
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    assert install_steps(root)[0] == python


def test_a_requires_python_nbflow_cannot_meet_is_a_config_error(tmp_path: Path) -> None:
    root = copy_examples(tmp_path / "project")
    (root / "pyproject.toml").write_text(PYPROJECT + 'requires-python = "<3.10"\n')
    with pytest.raises(ConfigError) as exc:
        generate_ci(root)
    assert str(exc.value) == (
        f"{root / 'pyproject.toml'}: project.requires-python: '<3.10' allows none of the "
        "Python versions nbflow runs on (3.11, 3.12, 3.13, 3.14); widen it, or set "
        "`ci: {python: '3.12'}` in nbflow.yaml"
    )


def test_nbflow_own_repository_installs_itself() -> None:
    own = load(generate_ci(REPO)[FINANCE])
    assert own["jobs"]["run"]["steps"][3]["run"] == 'uv pip install --system -e ".[examples]"'


def test_check_notices_an_nbflow_upgrade(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_ci(project)
    monkeypatch.setattr(nbflow.version, "__version__", "99.0.0")
    assert ".github/workflows/nbflow-finance-daily.yml: stale (its manifest or nbflow changed)" in (
        check_ci(project)
    )


# --------------------------------------------------------------------------- write, check


def test_write_then_check_is_fresh(project: Path) -> None:
    written = write_ci(project)
    assert [p.name for p in written] == [
        "nbflow-everything.yml",
        "nbflow-finance-daily.yml",
        "nbflow-many.yml",
        "nbflow-model-grid.yml",
        "nbflow-regional-sales.yml",
    ]
    assert check_ci(project) == []
    assert write_ci(project) == []  # nothing changed, nothing rewritten


def test_check_names_a_stale_file_after_a_manifest_edit(project: Path) -> None:
    write_ci(project)
    manifest = project / "workflows" / "finance-daily" / "workflow.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace('"0 0 * * *"', '"0 2 * * *"'), encoding="utf-8")
    assert check_ci(project) == [
        ".github/workflows/nbflow-finance-daily.yml: stale (its manifest or nbflow changed)"
    ]


def test_generate_removes_only_generated_files_of_removed_workflows(project: Path) -> None:
    write_ci(project)
    ci_dir = project / ".github" / "workflows"
    handmade = ci_dir / "nbflow-handmade.yml"
    handmade.write_text("name: mine\non: push\n", encoding="utf-8")
    shutil.rmtree(project / "workflows" / "many")
    assert check_ci(project) == [
        ".github/workflows/nbflow-many.yml: generated for a workflow that no longer exists "
        "or has no triggers"
    ]
    assert write_ci(project) == [ci_dir / "nbflow-many.yml"]
    assert not (ci_dir / "nbflow-many.yml").exists()
    assert handmade.is_file()
    assert check_ci(project) == []


def test_generate_never_overwrites_a_handmade_file(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ci_dir = project / ".github" / "workflows"
    ci_dir.mkdir(parents=True)
    handmade = ci_dir / "nbflow-many.yml"
    handmade.write_text("name: mine\non: push\n", encoding="utf-8")
    assert ".github/workflows/nbflow-many.yml: not generated by nbflow (no header)" in check_ci(
        project
    )
    monkeypatch.chdir(project)
    assert main(["ci", "generate"]) == 2
    assert capsys.readouterr().err == (
        f"error: {handmade.resolve()} exists and was not generated by nbflow (no header); "
        "rename or remove it, then run `nbflow ci generate` again\n"
    )
    assert handmade.read_text(encoding="utf-8") == "name: mine\non: push\n"
    assert not (ci_dir / "nbflow-everything.yml").exists()  # nothing written


def test_cli_check_exit_codes(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    assert main(["ci", "check"]) == 1
    out, err = capsys.readouterr()
    assert ".github/workflows/nbflow-finance-daily.yml: missing" in out.splitlines()
    assert 'run "nbflow ci generate"' in err

    assert main(["ci", "generate"]) == 0
    out, _ = capsys.readouterr()
    assert "wrote .github/workflows/nbflow-everything.yml" in out.splitlines()
    assert main(["ci", "check"]) == 0

    (project / ".github" / "workflows" / "nbflow-many.yml").write_text(
        f"{GENERATED_HEADER} from workflows/many/workflow.yaml\nedited: by hand\n", encoding="utf-8"
    )
    assert main(["ci", "check"]) == 1
    out, err = capsys.readouterr()
    assert out == ".github/workflows/nbflow-many.yml: stale (its manifest or nbflow changed)\n"
    assert err.endswith('1 generated workflow file(s) out of date; run "nbflow ci generate"\n')


def test_cli_reports_an_invalid_manifest(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifest(project / "workflows" / "broken", "name: broken\nsteps: []\n")
    monkeypatch.chdir(project)
    assert main(["ci", "generate"]) == 2
    assert "a workflow needs at least one step" in capsys.readouterr().err
    assert not (project / ".github").exists()


@pytest.mark.parametrize(
    ("foreach", "minutes"),
    [
        ("[a, b, c]", 3 + 3 * 2 + 10),
        ('"${{ params.names }}"', 3 + 2 * 2 + 10),
        ('"${{ steps.one.outputs.names }}"', MAX_TIMEOUT_MINUTES),
    ],
    ids=["literal", "parameter-default", "upstream-output"],
)
def test_a_sweep_counts_once_per_item_in_the_job_timeout(
    tmp_path: Path, foreach: str, minutes: int
) -> None:
    folder = tmp_path / "workflows" / "sweep"
    write_notebook(folder / "one.ipynb", "", ["import nbflow\nnbflow.record('names', ['x'])"])
    write_notebook(folder / "each.ipynb", "name = ''")
    manifest = write_manifest(
        folder,
        f"""
        name: sweep
        parameters:
          names: {{type: list, default: [p, q]}}
        defaults: {{timeout: 2m}}
        steps:
          - id: one
            notebook: one.ipynb
            timeout: 3m
          - id: each
            notebook: each.ipynb
            foreach: {foreach}
            parameters: {{name: "${{{{ item }}}}"}}
        """,
    )

    assert timeout_minutes(load_manifest(manifest)) == minutes


def test_a_step_waiting_for_data_adds_its_wait_timeout_to_the_job_timeout(tmp_path: Path) -> None:
    """GitHub must not cancel the job while a step still may wait for its files."""
    folder = tmp_path / "workflows" / "waits"
    write_notebook(folder / "one.ipynb", "")
    manifest = write_manifest(
        folder,
        """
        name: waits
        steps:
          - id: one
            notebook: one.ipynb
            timeout: 3m
            wait_for: {paths: [data/*.csv], timeout: 45m}
        """,
    )

    assert timeout_minutes(load_manifest(manifest)) == 3 + 45 + 10


# --------------------------------------------------------------------------- variants

VARIANTS = """
    name: variants
    on:
      schedule:
        - {cron: "0 6 * * 1-5", timezone: Europe/Paris}
        - "0 12 * * *"
      push: {branches: [main, "release/**"]}
    secrets: [API_TOKEN]
    ci: {runs-on: [self-hosted, linux], environment: production}
    defaults: {timeout: 5m}
    steps:
      - id: only
        notebook: only.ipynb
"""
VARIANTS_FILE = Path(".github/workflows/nbflow-variants.yml")


def variants_project(root: Path, layout: str = "") -> Path:
    (root / "nbflow.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "nbflow.yaml").write_text("", encoding="utf-8")
    text = VARIANTS.replace("environment: production}", f"environment: production{layout}}}")
    write_manifest(root / "workflows" / "variants", text)
    (root / "uv.lock").write_text("version = 1\n", encoding="utf-8")
    (root / ".python-version").write_text("3.13\n", encoding="utf-8")
    return root


def test_environment_time_zones_and_runner_match_golden(tmp_path: Path) -> None:
    files = generate_ci(variants_project(tmp_path / "project"))
    assert_golden("ci/nbflow-variants.yml", files[VARIANTS_FILE])
    lint(files, tmp_path / "lint")
    doc = load(files[VARIANTS_FILE])
    assert doc["on"]["schedule"] == [
        {"cron": "0 6 * * 1-5", "timezone": "Europe/Paris"},
        {"cron": "0 12 * * *"},
    ]
    run, check = doc["jobs"]["run"], doc["jobs"]["pull_request"]
    assert run["environment"] == "production" and "environment" not in check
    assert run["runs-on"] == check["runs-on"] == ["self-hosted", "linux"]


def test_per_step_jobs_given_secrets_wait_for_the_environment(tmp_path: Path) -> None:
    files = generate_ci(variants_project(tmp_path / "project", ", jobs: per-step"))
    lint(files, tmp_path / "lint")
    jobs = load(files[VARIANTS_FILE])["jobs"]
    assert {job: jobs[job].get("environment") for job in jobs} == {
        "plan": None,
        "step-only": "production",
        "assemble": "production",
        "pull_request": None,
    }
    assert {job: jobs[job]["runs-on"] for job in jobs} == dict.fromkeys(
        jobs, ["self-hosted", "linux"]
    )


def bump(text: str, action: str, sha: str, version: str) -> str:
    """What Dependabot does to a pin: the new commit and the new tag in the comment."""
    return re.sub(
        rf"uses: {re.escape(action)}@[0-9a-f]{{40}}  # \S+",
        f"uses: {action}@{sha}  # {version}",
        text,
    )


def test_check_tells_a_dependabot_bump_from_a_stale_file(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_ci(project)
    path = project / ".github" / "workflows" / "nbflow-finance-daily.yml"
    newer = "0123456789abcdef0123456789abcdef01234567"
    path.write_text(bump(path.read_text(), "actions/checkout", newer, "v7.1.0"))
    monkeypatch.chdir(project)

    assert main(["ci", "check"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        ".github/workflows/nbflow-finance-daily.yml: actions/checkout pinned to v7.1.0 "
        "(0123456789ab), newer than nbflow's v7.0.1: kept\n"
        "generated workflow files are up to date\n"
    )
    assert write_ci(project) == []  # regenerating keeps the newer pin
    assert f"actions/checkout@{newer}  # v7.1.0" in path.read_text()

    path.write_text(bump(path.read_text(), "actions/checkout", newer, "v6.0.0"))  # older
    assert check_ci(project) == [
        ".github/workflows/nbflow-finance-daily.yml: stale (its manifest or nbflow changed)"
    ]
    path.write_text(bump(path.read_text(), "actions/checkout", newer, "v7.0.1"))  # same tag
    assert check_ci(project) == [
        ".github/workflows/nbflow-finance-daily.yml: stale (its manifest or nbflow changed)"
    ]


def test_the_token_reaches_notebooks_only_when_listed_as_a_secret(tmp_path: Path) -> None:
    root = copy_examples(tmp_path / "project")
    manifest = root / "workflows" / "finance-daily" / "workflow.yaml"
    text = manifest.read_text(encoding="utf-8")

    def push_env() -> Any:
        steps = load(generate_ci(root)[FINANCE])["jobs"]["run"]["steps"]
        return next(s for s in steps if s.get("name") == "nbflow run (push)").get("env")

    assert push_env() is None
    manifest.write_text(text.replace("secrets: []", "secrets: [GITHUB_TOKEN]"), encoding="utf-8")
    assert push_env() == {"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}"}

    manifest.write_text(text.replace("secrets: []", "secrets: [GITHUB_API]"), encoding="utf-8")
    with pytest.raises(ManifestError) as exc:
        generate_ci(root)
    assert str(exc.value) == (
        f"{manifest}:1:1: secrets: GitHub does not allow a secret named 'GITHUB_API' (the "
        "GITHUB_ prefix is reserved); rename the secret"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "ci: {python: 3.10}",
            "ci.python: expected a version in quotes such as '3.12', got 3.1 (unquoted, "
            "YAML reads 3.10 as the number 3.1)",
        ),
        ("ci: {pyhton: '3.12'}", "ci.pyhton: unknown key; allowed: python, dependencies"),
        (
            "ci: {dependencies: 3}",
            "ci.dependencies: expected a list of files (uv.lock, requirements files or "
            "pyproject.toml), got 3",
        ),
        (
            "ci: [python]",
            "ci: expected a mapping, e.g. `ci: {python: '3.12', dependencies: [requirements.txt]}`",
        ),
    ],
    ids=["unquoted-python", "unknown-key", "dependencies-not-a-list", "not-a-mapping"],
)
def test_bad_ci_settings_in_nbflow_yaml_name_the_key(
    tmp_path: Path, settings: str, message: str
) -> None:
    root = copy_examples(tmp_path / "project")
    (root / "nbflow.yaml").write_text(settings + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        generate_ci(root)
    assert str(exc.value) == f"{root / 'nbflow.yaml'}: {message}"
