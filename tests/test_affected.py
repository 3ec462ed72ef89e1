"""``nbflow affected`` and ``nbflow run --changed`` on real Git repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import (
    commit_all,
    git,
    injected_parameters,
    latest_run,
    write_manifest,
    write_notebook,
)

from nbflow.cli import main
from nbflow.run_record import StepStatus

SALES_MANIFEST = """
    name: sales
    parameters:
      n: {type: int, default: 3}
    steps:
      - id: extract
        notebook: extract.ipynb
        inputs: ["data/${{ params.n }}/*.csv"]
      - id: transform
        notebook: transform.ipynb
        parameters: {rows: "${{ steps.extract.outputs.rows }}"}
      - id: report
        notebook: report.ipynb
        parameters: {total: "${{ steps.transform.outputs.total }}"}
      - id: audit
        notebook: audit.ipynb
        needs: [extract]
    """


def sales(root: Path) -> Path:
    """extract → transform → report, extract → audit; extract records rows = n * 10."""
    folder = root / "workflows" / "sales"
    record = "import nbflow\nnbflow.record"
    write_notebook(folder / "extract.ipynb", "n = 1", [f"{record}('rows', n * 10)"])
    write_notebook(folder / "transform.ipynb", "rows = 0", [f"{record}('total', rows + 1)"])
    write_notebook(folder / "report.ipynb", "total = 0", [f"{record}('shown', total)"])
    write_notebook(folder / "audit.ipynb", None, ["1"])
    write_manifest(folder, SALES_MANIFEST)
    return folder


def other(root: Path) -> Path:
    folder = root / "workflows" / "other"
    write_notebook(folder / "only.ipynb", None, ["1"])
    write_manifest(folder, "name: other\nsteps:\n  - id: only\n    notebook: only.ipynb\n")
    return folder


def affected(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str]:
    assert main(["affected", *args]) == 0
    out, err = capsys.readouterr()
    return out, err


@pytest.fixture
def repo(project_repo: Path) -> Path:
    """Both workflows committed, and a successful earlier run of every sales step
    (run with ``-p n=7``, so reused outputs are told apart from fresh ones)."""
    sales(project_repo)
    other(project_repo)
    commit_all(project_repo, "workflows")
    assert main(["run", "sales", "-p", "n=7"]) == 0
    return project_repo


def _transform_adds_2(repo: Path) -> None:
    write_notebook(
        repo / "workflows/sales/transform.ipynb",
        "rows = 0",
        ["import nbflow\nnbflow.record('total', rows + 2)"],
    )
    commit_all(repo, "transform adds 2")


def test_changed_notebook_runs_that_step_and_its_dependants(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _transform_adds_2(repo)
    capsys.readouterr()

    assert affected(capsys, "HEAD~1..HEAD") == ("sales: transform, report\n", "")
    assert main(["run", "--changed", "HEAD~1..HEAD", "-p", "n=7"]) == 0

    folder, record = latest_run(repo, "sales")
    assert record.trigger == "push"
    statuses = {s.id: (s.status, s.reason) for s in record.steps}
    (earlier,) = [p.name for p in folder.parent.iterdir() if p.is_dir() and p != folder]
    assert statuses == {
        "extract": (StepStatus.SKIPPED, f"not selected; outputs from run {earlier}"),
        "transform": (StepStatus.SUCCEEDED, ""),
        "report": (StepStatus.SUCCEEDED, ""),
        "audit": (StepStatus.SKIPPED, "not selected"),
    }
    # rows comes from the earlier full run (n=7, as asked again)
    assert injected_parameters(folder / "transform.ipynb").strip().endswith("rows = 70")
    assert record.step("report").outputs == {"shown": 72}
    assert not (repo / "runs" / "other").exists()


def test_changed_runs_a_needed_step_whose_last_result_was_for_other_parameters(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _transform_adds_2(repo)
    earlier = latest_run(repo, "sales")[1].run_id

    assert main(["run", "--changed", "HEAD~1..HEAD"]) == 0  # n=3, the default

    folder, record = latest_run(repo, "sales")
    statuses = {s.id: (s.status, s.reason) for s in record.steps}
    why = f"its last result was for n=7 (run {earlier})"
    assert statuses == {
        "extract": (StepStatus.SUCCEEDED, f"run though not selected: {why}"),
        "transform": (StepStatus.SUCCEEDED, ""),
        "report": (StepStatus.SUCCEEDED, ""),
        "audit": (StepStatus.SKIPPED, "not selected"),
    }
    assert injected_parameters(folder / "transform.ipynb").strip().endswith("rows = 30")
    assert record.step("report").outputs == {"shown": 32}
    assert f"- ran `extract`: {why}\n" in (folder / "README.md").read_text(encoding="utf-8")


def test_upstream_steps_without_an_earlier_run_are_selected(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales(project_repo)
    commit_all(project_repo, "workflows")
    (project_repo / "workflows/sales/report.ipynb").write_text(
        (project_repo / "workflows/sales/report.ipynb").read_text() + "\n"
    )
    commit_all(project_repo, "touch report")

    assert affected(capsys, "HEAD~1..HEAD")[0] == "sales: extract, transform, report\n"


def test_changed_input_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "workflows/sales/data/9").mkdir(parents=True)
    (repo / "workflows/sales/data/9/payments.csv").write_text("a,b\n")
    (repo / "workflows/sales/data/notes.txt").write_text("not an input\n")
    commit_all(repo, "data")

    out, _ = affected(capsys, "HEAD~1..HEAD", "--json")
    assert json.loads(out) == [
        {
            "workflow": "sales",
            "manifest": "workflows/sales/workflow.yaml",
            "steps": ["extract", "transform", "report", "audit"],
            "touched": {"extract": "input workflows/sales/data/9/payments.csv changed"},
        }
    ]


def test_manifest_edit_to_one_step(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = repo / "workflows/sales/workflow.yaml"
    manifest.write_text(
        manifest.read_text().replace("needs: [extract]", "needs: [extract]\n    retries: 2")
        + "# a comment changes nothing\n"
    )
    commit_all(repo, "retry audit")

    assert affected(capsys, "HEAD~1..HEAD") == ("sales: audit\n", "")


def test_changed_parameter_default_touches_its_users(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = repo / "workflows/sales/workflow.yaml"
    manifest.write_text(manifest.read_text().replace("default: 3", "default: 4"))
    commit_all(repo, "n=4")

    out, _ = affected(capsys, "HEAD~1..HEAD", "--json")
    assert json.loads(out)[0]["touched"] == {"extract": "parameter n changed"}


def test_new_workflow_touches_all_its_steps(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = repo / "workflows" / "fresh"
    write_notebook(folder / "one.ipynb", None, ["1"])
    write_notebook(folder / "two.ipynb", None, ["2"])
    write_manifest(
        folder,
        "name: fresh\nsteps:\n  - {id: one, notebook: one.ipynb}\n"
        "  - {id: two, notebook: two.ipynb}\n",
    )
    commit_all(repo, "fresh")

    assert affected(capsys, "HEAD~1..HEAD") == ("fresh: one, two\n", "")
    assert main(["run", "--changed", "HEAD~1..HEAD", "--trigger", "manual"]) == 0
    _, record = latest_run(repo, "fresh")
    assert (record.trigger, [s.status for s in record.steps]) == ("manual", ["succeeded"] * 2)


def test_changes_only_under_runs_affect_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_all(repo, "the earlier run")  # runs/sales/<id>/… including notebooks
    (repo / "runs" / "sales" / "extract.ipynb").write_text("{}")
    commit_all(repo, "more under runs")

    assert affected(capsys, "HEAD~2..HEAD") == ("", "no workflow affected by HEAD~2..HEAD\n")
    assert main(["run", "--changed", "HEAD~2..HEAD"]) == 0
    assert capsys.readouterr() == ("", "no workflow affected by HEAD~2..HEAD\n")


def test_changed_with_a_workflow_named_runs_only_that_one(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project_repo / "README.md").write_text("x\n", encoding="utf-8")
    base = commit_all(project_repo, "first")
    for name in ("alpha", "beta", "gamma"):  # beta, named, sorts between the others
        folder = project_repo / "workflows" / name
        write_notebook(folder / "only.ipynb", None, ["1"])
        write_manifest(folder, f"name: {name}\nsteps:\n  - id: only\n    notebook: only.ipynb\n")
    commit_all(project_repo, "three workflows")
    assert affected(capsys, f"{base}..HEAD") == ("alpha: only\nbeta: only\ngamma: only\n", "")

    assert main(["run", "beta", "--changed", f"{base}..HEAD"]) == 0

    assert latest_run(project_repo, "beta")[1].status.value == "succeeded"
    assert sorted(p.name for p in (project_repo / "runs").iterdir()) == ["beta"]


def test_first_commit_from_the_empty_tree(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other(project_repo)
    commit_all(project_repo, "first")
    empty = git(project_repo, "hash-object", "-t", "tree", "/dev/null")

    assert affected(capsys, f"{empty}..HEAD") == ("other: only\n", "")


def test_unknown_revision_is_an_error(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other(project_repo)
    commit_all(project_repo, "first")

    assert main(["affected", "HEAD~1..HEAD"]) == 2
    assert capsys.readouterr().err == "error: HEAD~1..HEAD: unknown revision 'HEAD~1'\n"


@pytest.mark.parametrize(
    "option",
    [["--steps", "a"], ["--resume", "2026-11-23T000000Z-ab12"], ["--schedule", "0 0 * * *"]],
)
def test_changed_rejects_steps(
    project_repo: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    assert main(["run", "--changed", "HEAD~1..HEAD", *option]) == 2
    assert capsys.readouterr().err == (
        "error: --changed chooses the steps: drop --steps, --resume, --schedule\n"
    )


def test_changed_foreach_parameter_touches_the_sweep(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = repo / "workflows" / "sweep"
    write_notebook(folder / "each.ipynb", "name = ''", ["1"])
    text = (
        "name: sweep\nparameters:\n  names: {type: list, default: [a, b]}\nsteps:\n"
        "  - {id: each, notebook: each.ipynb, foreach: '${{ params.names }}'}\n"
    )
    write_manifest(folder, text)
    commit_all(repo, "sweep")
    write_manifest(folder, text.replace("[a, b]", "[a, b, c]"))
    commit_all(repo, "one more name")

    out, _ = affected(capsys, "HEAD~1..HEAD", "--json")
    assert json.loads(out)[0]["touched"] == {"each": "parameter names changed"}


def test_changed_looks_for_a_steps_files_with_the_parameters_given(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make`` produced ``out/7.txt`` in a run with ``-p n=7``: a change to ``use``
    with ``-p n=7`` again reuses it (``out/3.txt``, for the default, is not there)."""
    folder = project_repo / "workflows" / "made"
    write_notebook(
        folder / "make.ipynb", "n = 1", ["import pathlib\npathlib.Path(f'out/{n}.txt').touch()"]
    )
    write_notebook(folder / "use.ipynb", None, ["1"])
    write_manifest(
        folder,
        """
        name: made
        parameters:
          n: {type: int, default: 3}
        steps:
          - {id: make, notebook: make.ipynb, produces: ["out/${{ params.n }}.txt"]}
          - {id: use, notebook: use.ipynb, needs: [make]}
        """,
    )
    commit_all(project_repo, "made")
    assert main(["run", "made", "-p", "n=7"]) == 0
    earlier = latest_run(project_repo, "made")[1].run_id
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["7.txt"]
    write_notebook(folder / "use.ipynb", None, ["2"])
    commit_all(project_repo, "use changed")

    assert main(["run", "--changed", "HEAD~1..HEAD", "-p", "n=7"]) == 0

    record = latest_run(project_repo, "made")[1]
    statuses = {s.id: (s.status, s.reason) for s in record.steps}
    assert statuses == {
        "make": (StepStatus.SKIPPED, f"not selected; outputs from run {earlier}"),
        "use": (StepStatus.SUCCEEDED, ""),
    }
