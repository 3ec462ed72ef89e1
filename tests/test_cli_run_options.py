"""``nbflow run`` options: --schedule, --params-json, --resume, --trigger and the GitHub
job summary. Runs go through real kernels on tiny notebooks; option errors are
checked before any kernel starts, and leave no run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import (
    git,
    injected_parameters,
    latest_run,
    write_manifest,
    write_notebook,
    write_run,
)

from nbflow.cli import main
from nbflow.report.run_report import render_report
from nbflow.run_record import RunStatus, StepStatus
from nbflow.store.runs import iter_run_dirs, read_record


def one_step(project: Path, name: str, on: str = "") -> Path:
    """Workflow ``name``: one step recording ``done``; ``on`` is the manifest's ``on:`` block."""
    folder = project / "workflows" / name
    write_notebook(folder / "main.ipynb", None, ["import nbflow\nnbflow.record('done', True)"])
    return write_manifest(
        folder,
        f"""
        name: {name}
        {on}
        steps:
          - id: main
            notebook: main.ipynb
        """,
    )


def typed_params(project: Path) -> Path:
    """Workflow ``params``: int parameters ``n`` and ``m`` that the step records."""
    folder = project / "workflows" / "params"
    write_notebook(
        folder / "main.ipynb",
        "n = 0\nm = 0",
        ["import nbflow\nnbflow.record('n', n)\nnbflow.record('m', m)"],
    )
    return write_manifest(
        folder,
        """
        name: params
        parameters:
          n: {type: int, default: 1}
          m: {type: int, default: 2}
        steps:
          - id: main
            notebook: main.ipynb
        """,
    )


def flag_chain(project: Path) -> Path:
    """Workflow ``chain``: a → b → c, where b fails until ``flag`` exists in the workflow
    folder (the steps' working directory) and passes a's output on to c."""
    folder = project / "workflows" / "chain"
    write_notebook(folder / "a.ipynb", None, ["import nbflow\nnbflow.record('x', 20)"])
    write_notebook(
        folder / "b.ipynb",
        "x = 0",
        [
            "from pathlib import Path\n"
            "if not Path('flag').exists():\n"
            "    raise RuntimeError('no flag yet')",
            "import nbflow\nnbflow.record('y', x + 1)",
        ],
    )
    write_notebook(folder / "c.ipynb", "y = 0", ["import nbflow\nnbflow.record('z', y * 2)"])
    return write_manifest(
        folder,
        """
        name: chain
        steps:
          - id: a
            notebook: a.ipynb
          - id: b
            notebook: b.ipynb
            needs: [a]
            parameters: {x: "${{ steps.a.outputs.x }}"}
          - id: c
            notebook: c.ipynb
            needs: [b]
            parameters: {y: "${{ steps.b.outputs.y }}"}
        """,
    )


# -- --schedule -----------------------------------------------------------------------


def test_schedule_runs_only_the_workflows_listing_the_cron(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_step(project, "nightly", 'on: {schedule: ["0 0 * * *"]}')
    one_step(project, "weekly", 'on: {schedule: ["0 0 * * 0"]}')
    one_step(project, "adhoc")

    code = main(["run", "--schedule", "0 0 * * *"])

    run_dir, record = latest_run(project, "nightly")
    assert code == 0
    assert capsys.readouterr().out == f"{run_dir}\n"
    assert sorted(p.name for p in (project / "runs").iterdir()) == ["nightly"]
    stored = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert (stored["trigger"], stored["status"]) == ("schedule", "succeeded")
    assert record.step("main").outputs == {"done": True}


def test_schedule_no_workflow_lists_exits_0(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_step(project, "nightly", 'on: {schedule: ["0 0 * * *"]}')

    code = main(["run", "--schedule", "5 4 * * *"])

    assert (code, capsys.readouterr()) == (
        0,
        ("", "no workflow lists the schedule '5 4 * * *'\n"),
    )
    assert not (project / "runs").exists()


# -- --params-json --------------------------------------------------------------------


def test_params_json_values_are_parsed_by_type_and_p_wins(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typed_params(project)

    code = main(["run", "params", "--params-json", '{"n": "3", "m": "4"}', "-p", "m=7"])

    run_dir, record = latest_run(project, "params")
    assert code == 0, capsys.readouterr().err
    assert record.parameters == {"n": 3, "m": 7}
    assert record.step("main").outputs == {"n": 3, "m": 7}  # ints, not "3"
    assert injected_parameters(run_dir / "main.ipynb") == "# Parameters\nn = 3\nm = 7\n"


NOT_AN_OBJECT = 'error: --params-json: expected a JSON object such as {"run_date": "2026-11-20"}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('["n", 3]', NOT_AN_OBJECT),
        ('"n=3"', NOT_AN_OBJECT),
        (
            "{n: 3}",
            "error: --params-json: not valid JSON (Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1))\n",
        ),
        ('{"n": "three"}', "error: --params-json n: expected an integer, got 'three'\n"),
    ],
)
def test_bad_params_json_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    typed_params(project)

    code = main(["run", "params", "--params-json", text])

    assert (code, capsys.readouterr()) == (2, ("", message))
    assert not (project / "runs").exists()


# -- GITHUB_STEP_SUMMARY and --trigger ------------------------------------------------


def test_run_appends_its_report_to_the_github_step_summary(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_step(project, "demo")
    summary = tmp_path / "step_summary.md"
    summary.write_text("## earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    code = main(["run", "demo", "--trigger", "push"])

    run_dir, record = latest_run(project, "demo")
    assert code == 0
    assert summary.read_text(encoding="utf-8") == (
        "## earlier step\n" + render_report(record) + "\n"
    )
    stored = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert stored["trigger"] == "push"


# -- --resume -------------------------------------------------------------------------


def test_resume_reruns_only_the_steps_that_did_not_succeed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag_chain(project)
    assert main(["run", "chain"]) == 1
    run_dir, failed = latest_run(project, "chain")
    assert [(s.id, s.status) for s in failed.steps] == [
        ("a", StepStatus.SUCCEEDED),
        ("b", StepStatus.FAILED),
        ("c", StepStatus.SKIPPED),
    ]
    a_notebook = run_dir / "a.ipynb"
    a_bytes, a_mtime = a_notebook.read_bytes(), a_notebook.stat().st_mtime_ns
    (project / "workflows" / "chain" / "flag").touch()
    capsys.readouterr()

    code = main(["run", "--resume", failed.run_id])

    out, err = capsys.readouterr()
    record = read_record(run_dir)
    assert code == 0, err
    assert out == f"{run_dir}\n"
    assert list(iter_run_dirs(project / "runs", "chain")) == [run_dir]
    assert (record.run_id, record.status) == (failed.run_id, RunStatus.SUCCEEDED)
    assert (a_notebook.read_bytes(), a_notebook.stat().st_mtime_ns) == (a_bytes, a_mtime)
    a, b, c = (record.step(i) for i in "abc")
    assert (a.status, [t.number for t in a.attempts]) == (StepStatus.SUCCEEDED, [1])
    assert a == failed.step("a")
    assert (b.status, [t.number for t in b.attempts]) == (StepStatus.SUCCEEDED, [1, 2])
    assert [t.status for t in b.attempts] == [StepStatus.FAILED, StepStatus.SUCCEEDED]
    assert (b.outputs, c.status, c.outputs) == ({"y": 21}, StepStatus.SUCCEEDED, {"z": 42})


def _folder_state(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a run folder: its bytes and modification time."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(run_dir.iterdir())}


def test_resuming_a_succeeded_committed_run_changes_no_byte_and_says_so(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag_chain(project_repo)
    (project_repo / "workflows" / "chain" / "flag").touch()
    git(project_repo, "add", "-A")
    git(project_repo, "commit", "-q", "-m", "chain")
    assert main(["run", "chain", "--commit"]) == 0
    run_dir, done = latest_run(project_repo, "chain")
    before = (
        _folder_state(run_dir),
        git(project_repo, "log", "--format=%H"),
        git(project_repo, "status", "--porcelain"),
    )
    capsys.readouterr()

    code = main(["run", "--resume", done.run_id, "--commit"])

    assert (code, capsys.readouterr()) == (
        0,
        (
            f"{run_dir}\n",
            f"nbflow: run {done.run_id} of chain succeeded already: nothing left to resume; "
            "its folder is unchanged (commit it with `nbflow commit RUN` if needed)\n",
        ),
    )
    after = (
        _folder_state(run_dir),
        git(project_repo, "log", "--format=%H"),
        git(project_repo, "status", "--porcelain"),
    )
    assert after == before


@pytest.mark.parametrize(
    "option",
    [["-p", "n=1"], ["--params-json", '{"n": 1}'], ["--schedule", "0 0 * * *"]],
)
def test_resume_refuses_new_parameters(
    project: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    write_run(project, "2026-11-23T000000Z-ab12", status="failed")

    code = main(["run", "--resume", "2026-11-23T000000Z-ab12", *option])

    assert (code, capsys.readouterr()) == (
        2,
        ("", "error: --resume keeps the run's parameters: drop -p, --params-json, --schedule\n"),
    )


def test_resume_naming_another_workflow_exits_2_and_naming_its_own_goes_on(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("alpha", "beta", "gamma"):  # the run is beta's, between the others
        one_step(project, name)
    write_run(project, "2026-11-23T000000Z-ab12", workflow="beta")

    refused = [
        main(["run", name, "--resume", "2026-11-23T000000Z-ab12"]) for name in ("alpha", "gamma")
    ]
    refusals = capsys.readouterr().err
    resumed = main(["run", "beta", "--resume", "2026-11-23T000000Z-ab12"])

    assert (refused, refusals) == (
        [2, 2],
        "error: run 2026-11-23T000000Z-ab12 belongs to workflow 'beta'\n" * 2,
    )
    assert (resumed, capsys.readouterr().err) == (
        0,
        "nbflow: run 2026-11-23T000000Z-ab12 of beta succeeded already: nothing left to "
        "resume; its folder is unchanged (commit it with `nbflow commit RUN` if needed)\n",
    )


def test_resume_of_an_unknown_run_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flag_chain(project)

    code = main(["run", "--resume", "2026-01-01T000000Z-abcd"])

    assert (code, capsys.readouterr()) == (
        2,
        (
            "",
            f"error: no run '2026-01-01T000000Z-abcd' under {project.resolve() / 'runs'}; "
            "list runs with `nbflow runs`\n",
        ),
    )
