"""load_manifest: ``run_if:``, ``if:``, ``wait_for:`` and ``sla:``, asserted as whole
messages with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import manifest_problems as problems
from helpers import write_manifest, write_notebook

from nbflow.manifest.load import load_manifest
from nbflow.manifest.model import RunIf, WaitFor


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """``workflows/demo`` holding a.ipynb (records ``rows``) and b.ipynb."""
    for name, body in (("a", 'nbflow.record("rows", 3)'), ("b", "pass")):
        write_notebook(tmp_path / "workflows" / "demo" / f"{name}.ipynb", "x = 1", [body])
    return tmp_path / "workflows" / "demo"


HEAD = """\
name: demo
parameters:
  full_refresh: {type: bool, default: false}
  day: {type: date, default: today}
secrets: [TOKEN]
steps:
  - id: a
    notebook: a.ipynb
  - id: b
    notebook: b.ipynb
"""


def test_the_new_keys_load_into_the_model(folder: Path) -> None:
    path = write_manifest(
        folder,
        HEAD.replace("name: demo\n", "name: demo\nsla: 30m\n")
        + "    run_if: all_done\n"
        + '    if: "${{ steps.a.outputs.rows > 0 and not params.full_refresh }}"\n'
        + "    wait_for: {paths: ['raw/${{ params.day }}/*.csv', 'memory://x/*'], every: 2s}\n"
        + "    sla: 90\n"
        + "notify: {on_sla_miss: ['json://localhost:1/']}\n",
    )

    workflow = load_manifest(path)

    a, b = workflow.steps
    assert (a.run_if, a.condition, a.wait_for, a.sla) == (RunIf.ALL_SUCCEEDED, None, None, None)
    assert b.run_if is RunIf.ALL_DONE
    assert b.condition == "${{ steps.a.outputs.rows > 0 and not params.full_refresh }}"
    assert b.condition_source is not None and b.condition_source.line == 13
    assert b.wait_for == WaitFor(("raw/${{ params.day }}/*.csv", "memory://x/*"), 3600.0, 2.0)
    assert (b.sla, workflow.sla) == (90.0, 1800.0)
    assert workflow.notify.on_sla_miss == ("json://localhost:1/",)


def test_unknown_run_if(folder: Path) -> None:
    path = write_manifest(folder, HEAD + "    run_if: always\n")

    assert problems(path) == [
        f"{path}:11:13: steps[1] (b).run_if: unknown value 'always'; expected one of: "
        "all_succeeded, none_failed, all_done, any_failed"
    ]


def test_any_failed_on_a_step_that_needs_nothing(folder: Path) -> None:
    path = write_manifest(folder, HEAD + "    needs: []\n    run_if: any_failed\n")

    assert problems(path) == [
        f"{path}:12:13: steps[1] (b).run_if: a step that needs nothing never sees a failure, "
        "so `run_if: any_failed` never runs it; list the steps whose failure it reports under "
        "`needs:`"
    ]


@pytest.mark.parametrize(
    ("written", "col", "message"),
    [
        (
            '"${{ params.full_refresh == }}"',
            37,
            "expected a value, a name or '(', found the end of the condition",
        ),
        ("'${{ params.full_refresh = 1 }}'", 34, "unexpected character '='"),
        (
            "${{ full_refresh }}",
            13,
            "unknown name 'full_refresh'; a name starts with one of params, steps, run, env "
            "(text is quoted: 'eu')",
        ),
        (
            "params.full_refresh",
            9,
            "condition 'params.full_refresh' is not one ${{ … }} expression; write it as "
            '"${{ params.full_refresh }}" or "${{ steps.ID.outputs.N > 0 }}"',
        ),
    ],
)
def test_condition_syntax_errors_point_at_the_column(
    folder: Path, written: str, col: int, message: str
) -> None:
    path = write_manifest(folder, HEAD + f"    if: {written}\n")

    assert problems(path) == [f"{path}:11:{col}: steps[1] (b).if: {message}"]


def test_condition_names_are_checked(folder: Path) -> None:
    path = write_manifest(
        folder,
        HEAD
        + '    if: "${{ params.full_refesh or steps.a.outputs.row > 1 or env.TOKEN }}"\n'
        + "  - id: c\n"
        + "    notebook: b.ipynb\n"
        + "    needs: []\n"
        + '    if: "${{ steps.a.outputs.rows > 1 }}"\n',
    )

    assert problems(path) == [
        f"{path}:11:14: steps[1] (b).if: params.full_refesh: unknown parameter 'full_refesh'; "
        "did you mean 'full_refresh'?",
        f"{path}:11:36: steps[1] (b).if: steps.a.outputs.row: step 'a' does not record output "
        "'row'; did you mean 'rows'?",
        f"{path}:11:63: steps[1] (b).if: 'env.TOKEN': a condition cannot read a secret (its "
        "values are shown in the step's record); decide in the notebook, which reads it "
        "with nbflow.secret(...)",
        f"{path}:15:14: steps[2] (c).if: steps.a.outputs.rows: step 'a' is not upstream of "
        "'c'; add 'a' to the needs of 'c'",
    ]


def test_wait_for_problems(folder: Path) -> None:
    path = write_manifest(
        folder,
        HEAD
        + "    wait_for:\n"
        + "      paths: ['raw/${{ params.dya }}/*.csv', 'nosuch://bucket/x', 'r/${{ item }}']\n"
        + "      timeout: 0s\n"
        + "      every: soon\n",
    )

    assert problems(path) == [
        f"{path}:12:15: steps[1] (b).wait_for.paths[0]: ${{{{ params.dya }}}}: unknown "
        "parameter 'dya'; did you mean 'day'?",
        f"{path}:12:46: steps[1] (b).wait_for.paths[1]: unknown protocol 'nosuch' in "
        "'nosuch://bucket/x'; use s3://, gs://, az://...",
        f"{path}:12:67: steps[1] (b).wait_for.paths[2]: a step waits once, before its items: "
        "`wait_for:` cannot use ${{ item }}; wait for every item's files (a glob), or in the "
        "notebook",
        f"{path}:13:16: steps[1] (b).wait_for.timeout: timeout must be longer than 0, got "
        "'0s'; e.g. '30m'",
        f"{path}:14:14: steps[1] (b).wait_for.every: expected a duration such as 30, '30s', "
        "'10m', '1h' or '1h30m', got 'soon'",
    ]


def test_wait_for_needs_paths(folder: Path) -> None:
    path = write_manifest(folder, HEAD + "    wait_for: {timeout: 1h}\n")

    assert problems(path) == [f"{path}:11:15: steps[1] (b).wait_for: missing required key 'paths'"]


def test_a_protocol_whose_package_is_missing_is_a_warning(folder: Path) -> None:
    pytest.importorskip("fsspec")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed here")
    path = write_manifest(folder, HEAD + "    wait_for: {paths: ['s3://bucket/x.csv']}\n")

    workflow = load_manifest(path)

    assert [str(w) for w in workflow.warnings] == [
        f"{path}:11:24: steps[1] (b).wait_for.paths[0]: 's3://bucket/x.csv': Install s3fs to "
        "access S3; install it next to nbflow (pip install 'nbflow-workflows[remote]')"
    ]


def test_sla_problems(folder: Path) -> None:
    path = write_manifest(
        folder,
        HEAD.replace("name: demo\n", "name: demo\nsla: -5\n")
        + "    sla: 0\n"
        + "notify: {on_sla_miss: ['${{ secrets.TOKN }}']}\n",
    )

    assert problems(path) == [
        f"{path}:2:6: sla: a duration cannot be negative, got -5",
        f"{path}:12:10: steps[1] (b).sla: sla must be longer than 0, got 0; e.g. '30m'",
        f"{path}:13:24: notify.on_sla_miss[0]: ${{{{ secrets.TOKN }}}}: undeclared secret "
        "'TOKN'; did you mean 'TOKEN'?",
    ]
