"""The ``nbflow`` command: exit codes, stdout (results) and stderr (messages).

Every test calls ``nbflow.cli.main([...])`` except one, which runs the installed
entry points in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import copy_examples, latest_run, write_manifest, write_notebook

import nbflow.cli.inspect
from nbflow import __version__
from nbflow.cli import main
from nbflow.report.run_report import render_report

REPO = Path(__file__).resolve().parent.parent
BUG = "nbflow: internal error (a bug): please report it at https://github.com/nbflow/nbflow/issues"


def two_steps(project: Path, needs: str = "extract") -> Path:
    folder = project / "workflows" / "demo"
    write_notebook(folder / "extract.ipynb", None, ["1"])
    write_notebook(folder / "load.ipynb", None, ["2"])
    return write_manifest(
        folder,
        f"""
        name: demo
        steps:
          - id: extract
            notebook: extract.ipynb
          - id: load
            notebook: load.ipynb
            needs: [{needs}]
        """,
    )


def test_entry_points_run(tmp_path: Path) -> None:
    help_ = subprocess.run(
        [sys.executable, "-m", "nbflow", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    script = Path(sys.executable).parent / "nbflow"
    bare = subprocess.run([str(script)], capture_output=True, text=True, cwd=tmp_path)
    version = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, cwd=tmp_path
    )

    assert help_.returncode == 0, help_.stderr
    assert help_.stdout.startswith("usage: nbflow ")
    assert "Exit codes: 0 ok, 1 a step failed, 2 invalid input" in help_.stdout
    assert bare.returncode == 2
    assert (bare.stdout, bare.stderr[:14]) == ("", "usage: nbflow ")
    assert (version.returncode, version.stdout) == (0, f"nbflow {__version__}\n")


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: nbflow ")
    assert " ".join(err.split()).endswith(
        "Exit codes: 0 ok, 1 a step failed, 2 invalid input, 3 internal error, 75 busy (the "
        "workflow is running: try later), 130 interrupted, 141 stdout closed. NBFLOW_DEBUG=1 "
        "shows tracebacks."
    )


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_validate_passes_on_the_examples(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_examples(project)

    code = main(["validate"])

    out, err = capsys.readouterr()
    assert code == 0
    assert out == ""
    root = project.resolve()
    assert err.splitlines() == [
        f"ok {root}/workflows/finance-daily/workflow.yaml (7 steps)",
        f"ok {root}/workflows/model-grid/workflow.yaml (3 steps)",
        f"ok {root}/workflows/regional-sales/workflow.yaml (4 steps)",
    ]


def test_validate_points_at_a_misspelled_need(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_steps(project, needs="extrct")

    code = main(["validate", "demo"])

    out, err = capsys.readouterr()
    assert code == 2
    manifest = project.resolve() / "workflows" / "demo" / "workflow.yaml"
    assert out == (
        f"{manifest}:7:13: steps[1] (load).needs[0]: unknown step 'extrct'; "
        "did you mean 'extract'?\n"
    )
    assert err == "1 problem(s) found\n"


def test_validate_with_no_workflows_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate"]) == 2
    assert capsys.readouterr().err == (
        f"error: no workflows under {project.resolve() / 'workflows'}; "
        "create one with `nbflow new NAME`\n"
    )


def test_unknown_workflow_suggests_a_name(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_steps(project)

    assert main(["run", "dmeo"]) == 2
    assert capsys.readouterr().err == "error: unknown workflow 'dmeo'; did you mean 'demo'?\n"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", "demo: 2 steps in 2 layers\n[1]  extract\n[2]  load     ← needs extract\n"),
        (
            "mermaid",
            'flowchart LR\n    s_extract["extract"]\n    s_load["load"]\n'
            "    s_extract --> s_load\n",
        ),
    ],
)
def test_graph_formats(
    project: Path, capsys: pytest.CaptureFixture[str], fmt: str, expected: str
) -> None:
    two_steps(project)

    assert main(["graph", "demo", "--format", fmt]) == 0
    assert capsys.readouterr().out == expected + "\n"


def test_graph_dot(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    two_steps(project)

    assert main(["graph", "demo", "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "demo" {')
    assert '"extract" -> "load"' in out
    assert out.rstrip().endswith("}")


def test_runs_and_show_after_a_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs"]) == 0
    assert capsys.readouterr() == ("", "no runs yet\n")
    assert main(["new", "demo"]) == 0
    capsys.readouterr()
    assert main(["run", "demo", "--trigger", "schedule", "--json"]) == 0
    run_dir, record = latest_run(project, "demo")
    out, err = capsys.readouterr()
    stored = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert json.loads(out) == stored
    assert err.splitlines()[-1] == f"executed notebooks and report: {run_dir}"

    assert main(["runs"]) == 0
    listed = capsys.readouterr().out
    assert main(["runs", "demo", "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert main(["show", record.run_id]) == 0
    shown = capsys.readouterr().out
    assert main(["show", record.run_id, "--json"]) == 0
    shown_json = json.loads(capsys.readouterr().out)

    took = f"{record.duration:.1f} s"
    logical = record.logical[:16].replace("T", " ")
    assert listed == (
        "RUN                      WORKFLOW             LOGICAL TIME      STATUS      STEPS    "
        "      TOOK  TRIGGER\n"
        f"{record.run_id}  demo                 {logical}  succeeded   1/1 steps  {took:>8}  "
        "schedule\n"
    )
    assert as_json == [stored]
    assert shown == render_report(record) + "\n"
    assert shown_json == stored
    assert record.step("main").outputs == {"done": True}


def test_show_unknown_run_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "2026-01-01T000000Z-abcd"]) == 2
    assert capsys.readouterr().err == (
        f"error: no run '2026-01-01T000000Z-abcd' under {project.resolve() / 'runs'} "
        "or committed to Git; list runs with `nbflow runs`\n"
    )


def test_init_sets_up_a_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / ".gitignore").write_text("*.pyc\n")

    assert main(["init", "repo"]) == 0

    root = tmp_path / "repo"
    assert capsys.readouterr().out.splitlines() == [
        "repo/nbflow.yaml",
        "repo/workflows",
        "repo/.nbflow/manifest.schema.json",
        "repo/.gitignore",
    ]
    assert (root / "workflows").is_dir()
    assert (root / "nbflow.yaml").read_text().endswith("runs_dir: runs\n")
    schema = json.loads((root / ".nbflow" / "manifest.schema.json").read_text())
    assert "steps" in schema["properties"]
    assert (root / ".gitignore").read_text() == "*.pyc\n.ipynb_checkpoints/\n"
    assert main(["init", "repo"]) == 0
    assert capsys.readouterr().out == ""


def test_new_workflow_then_new_step_keeps_comments_and_validates(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "wf"]) == 0
    folder = project.resolve() / "workflows" / "wf"
    assert capsys.readouterr().out.splitlines() == [
        f"{folder}/workflow.yaml",
        f"{folder}/main.ipynb",
    ]
    manifest = folder / "workflow.yaml"
    manifest.write_text(manifest.read_text().replace("steps:\n", "# the steps, in order\nsteps:\n"))

    assert main(["new", "wf", "step2"]) == 0
    assert capsys.readouterr().out.splitlines() == [str(manifest), f"{folder}/step2.ipynb"]
    text = manifest.read_text()
    assert "# the steps, in order\nsteps:\n" in text
    assert text.endswith(
        "  - id: main\n    notebook: main.ipynb\n  - id: step2\n    notebook: step2.ipynb\n"
    )
    assert main(["validate", "wf"]) == 0
    assert capsys.readouterr().err == f"ok {manifest} (2 steps)\n"
    assert main(["new", "wf", "step2"]) == 2
    assert capsys.readouterr().err == (
        f"error: {manifest}: step 'step2' exists already, and so does {folder}/step2.ipynb\n"
    )


def test_unexpected_exception_exits_3(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(nbflow.cli.inspect, "cmd_runs", broken)

    assert main(["runs"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-2:] == ["RuntimeError: boom", BUG]


def test_new_with_a_step_creates_the_workflow_when_missing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "fresh", "extract"]) == 0
    folder = project.resolve() / "workflows" / "fresh"
    assert capsys.readouterr().out.splitlines() == [
        str(folder / "workflow.yaml"),
        str(folder / "extract.ipynb"),
    ]
    assert (
        "  - id: extract\n    notebook: extract.ipynb\n" in (folder / "workflow.yaml").read_text()
    )
    assert main(["validate", "fresh"]) == 0
