"""Bad input: one clear line (``FILE:LINE:COL: ...`` for files) and exit 2, before
anything runs; never a traceback, never a hang."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbflow.cli import main
from tests.helpers import write_manifest, write_notebook


def one_workflow(
    root: Path, step: str = "{id: only, notebook: only.ipynb}", extra: str = ""
) -> Path:
    folder = root / "workflows" / "bad"
    write_notebook(folder / "only.ipynb", "limit = 0\nday = ''", ["1"])
    write_manifest(
        folder,
        "name: bad\n"
        "parameters:\n"
        "  limit: {type: int, default: 1}\n"
        "  day: {type: date, default: today}\n"
        "  mode: {type: choice, choices: [a, b], default: a}\n"
        f"{extra}"
        f"steps:\n  - {step}\n",
    )
    return folder


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


def assert_nothing_ran(root: Path) -> None:
    assert not list((root / "runs").glob("*/20*")) if (root / "runs").exists() else True


# -- notebooks ---------------------------------------------------------------------------


NOTEBOOKS = {
    "invalid JSON": (
        "{not json",
        ":1:2: invalid notebook JSON: Expecting property name enclosed in double quotes",
    ),
    "nbformat 2": (
        json.dumps({"nbformat": 2, "nbformat_minor": 0, "worksheets": []}),
        ": notebook format 2 is not supported; save it with Jupyter 4 or later (nbformat 4)",
    ),
    "a JSON list": ("[]", ": not a notebook (the JSON is not an object)"),
    "not UTF-8": (b"\xff\xfe{}", ": not UTF-8 text (byte 0)"),
    "empty": ("", ":1:1: invalid notebook JSON: Expecting value"),
}


@pytest.mark.parametrize("content,expected", NOTEBOOKS.values(), ids=NOTEBOOKS.keys())
def test_broken_notebook_is_a_located_error(
    project: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, expected: str
) -> None:
    folder = one_workflow(project)
    notebook = folder / "only.ipynb"
    notebook.write_bytes(content if isinstance(content, bytes) else content.encode())

    for command in (["validate", "bad"], ["run", "bad"]):
        code, err = run_cli(command, capsys)
        assert code == 2
    code = main(["validate", "bad"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0] == (
        f"{folder / 'workflow.yaml'}:7:26: steps[0] (only).notebook: invalid notebook: "
        f"{notebook}{expected}"
    )
    assert_nothing_ran(project)


def test_an_unquoted_invalid_date_is_reported_with_the_other_problems(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = one_workflow(
        project,
        "{id: only, notebook: only.ipynb, needs: [nope]}",
        extra="  start: {type: date, default: 2024-02-30}\n",
    )

    code = main(["validate", "bad"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out + err
    manifest = folder / "workflow.yaml"
    assert out.splitlines() == [
        f"{manifest}:6:32: parameters.start.default: 2024-02-30 is not a valid date: day is "
        "out of range for month; write an existing date as YYYY-MM-DD, or quote it "
        '("2024-02-30") to keep it as text',
        f"{manifest}:8:46: steps[0] (only).needs[0]: unknown step 'nope'; steps are: only",
    ]
    code, err = run_cli(["run", "bad"], capsys)
    assert code == 2
    assert_nothing_ran(project)


def test_parameters_without_a_parameters_cell(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = one_workflow(project, "{id: only, notebook: only.ipynb, parameters: {limit: 2}}")
    write_notebook(folder / "only.ipynb", None, ["limit = 0"])

    code, err = run_cli(["run", "bad"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        f"{folder / 'workflow.yaml'}:7:38: steps[0] (only).parameters: notebook 'only.ipynb' "
        "has no cell tagged 'parameters'; tag the cell that assigns its parameters with "
        '"parameters" (Jupyter: View > Cell Toolbar > Tags)'
    )
    one_workflow(project)
    write_notebook(folder / "only.ipynb", None, ["limit = 0"])
    code, err = run_cli(["run", "bad", "-p", "only.limit=3"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        "error: -p only.limit: only.ipynb has no parameter 'limit'; it declares none"
    )
    assert_nothing_ran(project)


def installed_kernels() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return ", ".join(sorted(KernelSpecManager().find_kernel_specs()))


def test_unknown_kernel_is_refused_before_the_run_starts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = one_workflow(project, "{id: only, notebook: only.ipynb, kernel: julia-9.9}")

    assert main(["validate", "bad"]) == 0  # validate does not import Jupyter
    capsys.readouterr()
    code, err = run_cli(["run", "bad"], capsys)

    assert code == 2
    assert err.splitlines()[-1] == (
        f"error: {folder / 'workflow.yaml'}:7:46: step 'only': kernel 'julia-9.9' is not "
        f"installed; installed kernels: {installed_kernels()}; install it, or set `kernel:` "
        "on the step or under `defaults:` to an installed kernel"
    )
    assert not (project / "runs").exists()


def test_unknown_defaults_kernel_points_at_defaults(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = one_workflow(project, extra="defaults: {kernel: julia-9.9}\n")

    code, err = run_cli(["run", "bad"], capsys)

    assert code == 2
    assert err.splitlines()[-1] == (
        f"error: {folder / 'workflow.yaml'}:6:20: step 'only': kernel 'julia-9.9' is not "
        f"installed; installed kernels: {installed_kernels()}; install it, or set `kernel:` "
        "on the step or under `defaults:` to an installed kernel"
    )
    assert not (project / "runs").exists()


def test_a_notebook_whose_kernel_is_not_installed_is_refused_naming_the_notebook(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = one_workflow(project)
    write_notebook(folder / "only.ipynb", "limit = 0", ["1"], kernel="nosuchkernel")

    assert main(["validate", "bad"]) == 0  # validate does not import Jupyter
    capsys.readouterr()
    code, err = run_cli(["run", "bad"], capsys)

    assert code == 2
    assert err.splitlines() == [
        f"error: {folder / 'only.ipynb'}: step 'only': kernel 'nosuchkernel' (the notebook's "
        f"kernelspec) is not installed; installed kernels: {installed_kernels()}; install it, "
        "or set `kernel:` on the step or under `defaults:` to an installed kernel"
    ]
    assert not (project / "runs").exists()


@pytest.mark.parametrize(
    "step, extra",
    [
        ("{id: only, notebook: only.ipynb, kernel: python3}", ""),
        ("{id: only, notebook: only.ipynb}", "defaults: {kernel: python3}\n"),
    ],
    ids=["step", "defaults"],
)
def test_kernel_in_the_manifest_overrides_the_notebooks(
    project: Path, capsys: pytest.CaptureFixture[str], step: str, extra: str
) -> None:
    folder = one_workflow(project, step, extra)
    write_notebook(folder / "only.ipynb", "limit = 0", ["1"], kernel="nosuchkernel")

    code, err = run_cli(["run", "bad"], capsys)

    assert code == 0, err
    (run,) = (project / "runs" / "bad").glob("*/run.json")
    assert json.loads(run.read_text())["status"] == "succeeded"


# -- the command line ------------------------------------------------------------------


BAD_VALUES = {
    "int": ("limit=many", "error: -p limit=many: "),
    "int from a float": ("limit=1.5", "error: -p limit=1.5: "),
    "date": ("day=2024-02-30", "error: -p day=2024-02-30: "),
    "choice": ("mode=c", "error: -p mode=c: "),
    "unknown parameter": ("limt=1", "error: bad: unknown parameter 'limt'; did you mean 'limit'?"),
    "no equals sign": ("limit", "error: -p limit: expected NAME=VALUE or STEP.NAME=VALUE"),
    "unknown step": ("nope.limit=1", "error: "),
    "path in a step id": ("../x.limit=1", "error: "),
}


@pytest.mark.parametrize("pair,expected", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_p_values(
    project: Path, capsys: pytest.CaptureFixture[str], pair: str, expected: str
) -> None:
    one_workflow(project)
    code, err = run_cli(["run", "bad", "-p", pair], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(expected), err
    assert_nothing_ran(project)


@pytest.mark.parametrize("steps", ["../../etc", "only,../x", "a/b", "", ",", "ONLY"])
def test_unsafe_or_unknown_step_ids_in_steps(
    project: Path, capsys: pytest.CaptureFixture[str], steps: str
) -> None:
    one_workflow(project)
    code, err = run_cli(["run", "bad", "--steps", steps], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert_nothing_ran(project)


@pytest.mark.parametrize(
    "run_id", ["../../etc", "../bad", "/etc/passwd", "2026-11-23T000000Z-ab12/../..", "", "x" * 500]
)
@pytest.mark.parametrize("command", ["show", "resume"])
def test_unsafe_run_ids(
    project: Path, capsys: pytest.CaptureFixture[str], run_id: str, command: str
) -> None:
    one_workflow(project)
    args = ["show", run_id] if command == "show" else ["run", "--resume", run_id]
    code, err = run_cli(args, capsys)
    assert code == 2
    if not run_id and command == "resume":  # an empty --resume is no resume
        assert (
            err.strip() == "error: run: name a WORKFLOW, or give --schedule CRON or --changed RANGE"
        )
        return
    assert err.strip() == (
        f"error: invalid run id '{run_id}': expected the form 2026-11-23T000000Z-ab12 "
        "(see `nbflow runs`)"
    )


def test_unknown_run_id(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_workflow(project)
    code, err = run_cli(["run", "--resume", "2026-11-23T000000Z-ab12"], capsys)
    assert code == 2
    assert err.strip() == (
        f"error: no run '2026-11-23T000000Z-ab12' under {project / 'runs'}; "
        "list runs with `nbflow runs`"
    )


# -- paths in the manifest -----------------------------------------------------------------


PATHS = {
    "notebook ..": (
        "{id: only, notebook: ../only.ipynb}",
        ":7:26: steps[0] (only).notebook: notebook path '../only.ipynb' leaves the workflow folder",
    ),
    "notebook absolute": (
        "{id: only, notebook: /tmp/only.ipynb}",
        ":7:26: steps[0] (only)."
        "notebook: notebook path '/tmp/only.ipynb' leaves the workflow folder",
    ),
    "notebook inner ..": (
        "{id: only, notebook: a/../../only.ipynb}",
        ":7:26: steps[0] (only).notebook: notebook path 'a/../../only.ipynb' leaves the "
        "workflow folder",
    ),
    "notebook windows": (
        "{id: only, notebook: 'C:\\x\\only.ipynb'}",
        ":7:26: steps[0] (only)."
        "notebook: notebook path 'C:\\x\\only.ipynb' leaves the workflow folder",
    ),
    "inputs ..": (
        "{id: only, notebook: only.ipynb, inputs: [data/*.csv, ../secret/*.csv]}",
        ":7:59: steps[0] (only).inputs[1]: input path '../secret/*.csv' leaves the workflow folder",
    ),
    "inputs absolute": (
        "{id: only, notebook: only.ipynb, inputs: [/etc/passwd]}",
        ":7:47: steps[0] (only).inputs[0]: input path '/etc/passwd' leaves the workflow folder",
    ),
    "produces ..": (
        "{id: only, notebook: only.ipynb, produces: [data/*.csv, ../x/*.csv]}",
        ":7:61: steps[0] (only).produces[1]: produced path '../x/*.csv' leaves the workflow folder",
    ),
    "produces absolute": (
        "{id: only, notebook: only.ipynb, produces: [/etc/passwd]}",
        ":7:49: steps[0] (only).produces[0]: produced path '/etc/passwd' leaves the workflow "
        "folder",
    ),
}


@pytest.mark.parametrize("step,expected", PATHS.values(), ids=PATHS.keys())
def test_paths_that_leave_the_workflow_folder(
    project: Path, capsys: pytest.CaptureFixture[str], step: str, expected: str
) -> None:
    folder = one_workflow(project, step)
    code = main(["validate", "bad"])
    out = capsys.readouterr().out.splitlines()
    assert code == 2
    assert out[0].startswith(f"{folder / 'workflow.yaml'}{expected}"), out
