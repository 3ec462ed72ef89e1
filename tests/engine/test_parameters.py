"""What each notebook receives, and how bad parameters are reported.

Precedence, lowest first: the notebook's parameters cell < the workflow parameter's
default < a step's ``parameters:`` < ``-p NAME=VALUE`` / ``-p STEP.NAME=VALUE``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import injected_parameters, latest_run, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.engine.parameters import resolve_run_parameters, resolve_step_parameters
from nbflow.errors import UsageError
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunStatus
from nbflow.store.runs import iter_run_dirs

NOW = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)

PRECEDENCE = """
name: prec
parameters:
  count: {type: int, default: 1}
  region: {type: str, default: from-workflow}
  mode: {type: str, default: from-workflow}
  note: {type: str, default: from-workflow}
  forced: {type: str, default: from-workflow}
steps:
  - id: a
    notebook: a.ipynb
    parameters: {mode: from-step, forced: from-step}
  - id: b
    notebook: b.ipynb
    needs: []
    parameters: {note: from-step}
"""


def precedence_workflow(folder: Path) -> Path:
    write_notebook(
        folder / "a.ipynb",
        "only_notebook = 'from-notebook'\nregion = 'from-notebook'\nmode = 'from-notebook'\n"
        "forced = 'from-notebook'\ncount = 0",
        [
            "import nbflow\n"
            "nbflow.record('seen', {'only_notebook': only_notebook, 'region': region, "
            "'mode': mode, 'forced': forced, 'count': count})\n"
            "nbflow.record('count_type', type(count).__name__)"
        ],
    )
    write_notebook(
        folder / "b.ipynb",
        "note = 'from-notebook'",
        ["import nbflow\nnbflow.record('note', note)\nnbflow.record('names', sorted(dir()))"],
    )
    return write_manifest(folder, PRECEDENCE)


def test_parameters_follow_their_precedence(project: Path) -> None:
    precedence_workflow(project / "workflows" / "prec")

    code = main(["run", "prec", "-p", "count=5", "-p", "forced=from-cli", "-p", "b.note=from-cli"])

    assert code == 0
    run_dir, record = latest_run(project, "prec")
    assert record.status == RunStatus.SUCCEEDED
    assert record.parameters == {
        "count": 5,
        "region": "from-workflow",
        "mode": "from-workflow",
        "note": "from-workflow",
        "forced": "from-cli",
    }
    a, b = record.steps
    assert a.parameters == {
        "region": "from-workflow",
        "mode": "from-step",
        "forced": "from-cli",
        "count": 5,
    }
    assert a.outputs == {
        "seen": {
            "only_notebook": "from-notebook",
            "region": "from-workflow",
            "mode": "from-step",
            "forced": "from-cli",
            "count": 5,
        },
        "count_type": "int",
    }
    # b's parameters cell defines only `note`: no other workflow parameter reaches it
    assert b.parameters == {"note": "from-cli"}
    assert b.outputs["note"] == "from-cli"
    assert not {"count", "region", "mode", "forced"} & set(b.outputs["names"])
    assert injected_parameters(run_dir / "b.ipynb") == '# Parameters\nnote = "from-cli"\n'


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-p", "count=five"], "error: -p count=five: expected an integer, got 'five'"),
        (["-p", "cuont=5"], "error: prec: unknown parameter 'cuont'; did you mean 'count'?"),
        (
            ["-p", "a.mdoe=x"],
            "error: -p a.mdoe: a.ipynb has no parameter 'mdoe'; did you mean 'mode'?",
        ),
        (["-p", "z.mode=x"], "error: prec: unknown step 'z'; steps are: a, b"),
        (["-p", "count"], "error: -p count: expected NAME=VALUE or STEP.NAME=VALUE"),
        (["--steps", "bb"], "error: prec: unknown step 'bb'; did you mean 'b'?"),
        (
            ["-p", "a.count=2019-01-01"],
            "error: -p a.count=2019-01-01: step 'a' declares `count = 0` in a.ipynb; "
            "expected an integer, got '2019-01-01'",
        ),
    ],
    ids=[
        "bad-int",
        "unknown-name",
        "unknown-step-parameter",
        "unknown-step",
        "no-value",
        "unknown-selected-step",
        "step-parameter-not-its-declared-type",
    ],
)
def test_bad_command_line_parameter_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    precedence_workflow(project / "workflows" / "prec")

    code = main(["run", "prec", *argv])

    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message
    assert list(iter_run_dirs(project / "runs")) == []


TYPED_CELL = """\
from datetime import date
label = "x"
note = "x"
code = "x"
nothing = "x"
pair = "x"
count = 0
ratio: float = 0
flag = False
items: list[int] = []
options = {}
untyped = None
day = date(2020, 1, 1)
"""


def test_step_parameters_are_parsed_by_the_type_their_notebook_declares(project: Path) -> None:
    """``-p STEP.NAME=VALUE`` is typed by the parameters cell (annotation, else the
    default's type), never as YAML: text stays text, dates included; a name without a
    declared type (``None``, a call) takes the text."""
    folder = project / "workflows" / "typed"
    write_notebook(
        folder / "s.ipynb",
        TYPED_CELL,
        [
            "import nbflow\nnbflow.record('types', {k: type(v).__name__ for k, v in dict("
            "label=label, count=count, ratio=ratio, flag=flag, items=items, options=options, "
            "untyped=untyped, day=day).items()})"
        ],
    )
    write_manifest(folder, "name: typed\nsteps:\n  - {id: s, notebook: s.ipynb}\n")
    given = {
        "label": "2019-01-01",
        "note": "a #b",
        "code": "007",
        "nothing": "null",
        "pair": "x: y",
        "count": "007",
        "ratio": "1e3",
        "flag": "yes",
        "items": "[1, 2]",
        "options": "{a: 1, b: [x]}",
        "untyped": "5",
        "day": "2019-01-01",
    }

    code = main(["run", "typed", *(f"-ps.{name}={text}" for name, text in given.items())])

    assert code == 0
    _, record = latest_run(project, "typed")
    assert record.step("s").parameters == {
        "label": "2019-01-01",
        "note": "a #b",
        "code": "007",
        "nothing": "null",
        "pair": "x: y",
        "count": 7,
        "ratio": 1000.0,
        "flag": True,
        "items": [1, 2],
        "options": {"a": 1, "b": ["x"]},
        "untyped": "5",
        "day": "2019-01-01",
    }
    assert record.step("s").outputs["types"] == {
        "label": "str",
        "count": "int",
        "ratio": "float",
        "flag": "bool",
        "items": "list",
        "options": "dict",
        "untyped": "str",
        "day": "str",
    }


def test_missing_required_parameter_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project / "workflows" / "req"
    write_notebook(folder / "a.ipynb", "limit = 0", ["limit"])
    manifest = write_manifest(
        folder,
        """
        name: req
        parameters:
          limit: {type: int, required: true}
        steps:
          - {id: a, notebook: a.ipynb}
        """,
    )

    code = main(["run", "req"])

    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {manifest}:3:3: parameters.limit: required parameter not given; "
        "pass -p limit=VALUE"
    )


def test_run_parameters_resolve_defaults_against_the_run_clock(tmp_path: Path) -> None:
    write_notebook(tmp_path / "a.ipynb", "run_date = ''", [])
    manifest = write_manifest(
        tmp_path,
        """
        name: dates
        parameters:
          run_date: {type: date, default: today}
          tags: {type: list, default: [x]}
          ratio: {type: float, default: 0.5}
        steps:
          - {id: a, notebook: a.ipynb}
        """,
    )
    workflow = load_manifest(manifest)

    assert resolve_run_parameters(workflow, {}, NOW) == {
        "run_date": "2026-11-20",
        "tags": ["x"],
        "ratio": 0.5,
    }
    assert resolve_run_parameters(workflow, {"ratio": 2}, NOW)["ratio"] == 2.0
    with pytest.raises(UsageError) as exc:
        resolve_run_parameters(workflow, {"tags": "x"}, NOW)
    assert str(exc.value) == '-p tags: expected a list, got str "x"'


def test_step_parameters_resolve_expressions_keeping_types(tmp_path: Path) -> None:
    write_notebook(tmp_path / "a.ipynb", "rows = 0\nrun_date = ''\nlabel = ''\nwho = ''", [])
    write_notebook(tmp_path / "src.ipynb", None, ["import nbflow\nnbflow.record('rows', 1)"])
    manifest = write_manifest(
        tmp_path,
        """
        name: exprs
        parameters:
          run_date: {type: date, default: today}
        steps:
          - {id: src, notebook: src.ipynb}
          - id: a
            notebook: a.ipynb
            parameters:
              rows: "${{ steps.src.outputs.rows }}"
              label: "${{ run.id }}/${{ params.run_date }}"
              who: "${{ env.NBFLOW_TEST_WHO }}"
        """,
    )
    workflow = load_manifest(manifest)
    os_env = {"NBFLOW_TEST_WHO": "tester"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in os_env.items():
            patch.setenv(name, value)
        injected = resolve_step_parameters(
            workflow,
            workflow.step("a"),
            {"run_date": "2026-11-20"},
            {"src": {"rows": 42}},
            {"id": "RUN", "date": "2026-11-20"},
            {"who": "override"},
        )
    assert injected == {
        "run_date": "2026-11-20",
        "rows": 42,
        "label": "RUN/2026-11-20",
        "who": "override",
    }
