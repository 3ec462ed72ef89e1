"""load_manifest: every check, asserted as the whole message with its position."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_manifest, write_notebook

from nbflow.errors import ManifestError, Source, UsageError
from nbflow.manifest.load import find_manifests, load_manifest, resolve_workflow
from nbflow.manifest.model import Defaults, Notify, Parameter, ParamType, Schedule, Triggers


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty workflow folder ``workflows/demo`` holding notebooks a.ipynb … e.ipynb."""
    path = tmp_path / "workflows" / "demo"
    for name in "abcde":
        write_notebook(path / f"{name}.ipynb", "x = 1", [f'nbflow.record("{name}_rows", 1)'])
    return path


def problems(path: Path, *, check_notebooks: bool = True) -> list[str]:
    with pytest.raises(ManifestError) as exc:
        load_manifest(path, check_notebooks=check_notebooks)
    return [str(p) for p in exc.value.problems]


def one_problem(path: Path) -> str:
    found = problems(path)
    assert len(found) == 1, found
    return found[0]


STEPS_AB = """\
steps:
  - id: a
    notebook: a.ipynb
  - id: b
    notebook: b.ipynb
"""


# --------------------------------------------------------------------------- a valid manifest


FULL = """\
# yaml-language-server: $schema=../../nbflow/manifest/schema.json
name: demo
description: "A demo workflow"
on:
  schedule: ["0 0 * * *"]
  push: {paths: ["workflows/demo/**", "data/**"]}
  dispatch: true
parameters:
  run_date: {type: date, default: today, description: "The day to process"}
  at: {type: datetime, default: now}
  start: {type: date, default: 2024-01-31}
  region: {type: choice, choices: [eu, us], default: eu}
  limit: {type: int, required: true}
  ratio: {type: float, default: 1}
  flag: {type: bool, default: false}
  out: {type: path, default: data/out.csv}
  tags: {type: list, default: [x, y]}
  opts: {type: dict, default: {k: 1}}
  label: {type: str}
secrets: [WAREHOUSE_TOKEN]
defaults: {timeout: 10m, retries: 1, retry_delay: 5s, kernel: python3}
steps:
  - id: a
    notebook: a.ipynb
    description: "first"
    inputs: ["data/raw/*.csv"]
    produces: ["data/out/${{ params.run_date }}/*.csv"]
    outputs: [extra]
  - id: b
    notebook: b.ipynb
    parameters:
      x: "${{ steps.a.outputs.a_rows }}"
    timeout: 1h30m
    retries: 2
    retry_delay: 10
    kernel: python3
  - id: c
    notebook: c.ipynb
    needs: []
    parameters: {x: "${{ params.limit }}-${{ run.id }}-${{ env.HOME }}"}
  - id: d
    notebook: d.ipynb
    needs: [b, c]
    parameters: {x: "${{ steps.a.outputs.extra }}"}
notify:
  on_failure: ["${{ env.SLACK_URL }}", "json://h/?t=${{ secrets.WAREHOUSE_TOKEN }}"]
  on_success: []
commit: {target: current}
"""


def test_full_manifest_loads_into_the_model(folder: Path) -> None:
    path = write_manifest(folder, FULL)
    workflow = load_manifest(path)
    assert workflow.name == "demo"
    assert workflow.description == "A demo workflow"
    assert workflow.manifest == path
    assert workflow.source == Source(path, 1, 1)
    assert workflow.triggers == Triggers(
        schedule=(Schedule("0 0 * * *"),),
        push_paths=("workflows/demo/**", "data/**"),
        dispatch=True,
    )
    assert workflow.secrets == ("WAREHOUSE_TOKEN",)
    assert workflow.defaults == Defaults(
        timeout=600.0, retries=1, retry_delay=5.0, kernel="python3"
    )
    assert workflow.notify == Notify(
        on_failure=("${{ env.SLACK_URL }}", "json://h/?t=${{ secrets.WAREHOUSE_TOKEN }}"),
        on_success=(),
    )
    assert workflow.parameters[0] == Parameter(
        name="run_date",
        type=ParamType.DATE,
        source=Source(path, 9, 3),
        default="today",
        has_default=True,
        description="The day to process",
    )
    by_name = {p.name: p for p in workflow.parameters}
    assert by_name["at"].default == "now"
    assert by_name["start"].default == "2024-01-31"
    assert by_name["region"].choices == ("eu", "us")
    assert by_name["limit"].required and not by_name["limit"].has_default
    assert by_name["ratio"].default == 1.0
    assert by_name["flag"].default is False
    assert by_name["tags"].default == ["x", "y"]
    assert by_name["opts"].default == {"k": 1}
    assert by_name["label"].has_default is False

    a, b, c, d = workflow.steps
    assert (a.id, a.notebook, a.needs, a.source) == ("a", "a.ipynb", (), Source(path, 23, 5))
    assert (a.timeout, a.retries, a.retry_delay, a.kernel) == (600.0, 1, 5.0, "python3")
    assert a.inputs == ("data/raw/*.csv",)
    assert a.produces == ("data/out/${{ params.run_date }}/*.csv",)
    assert a.outputs == ("extra",)
    assert a.description == "first"
    assert b.needs == ("a",)
    assert b.parameters == {"x": "${{ steps.a.outputs.a_rows }}"}
    assert b.parameter_sources == {"x": Source(path, 32, 7)}
    assert (b.timeout, b.retries, b.retry_delay) == (5400.0, 2, 10.0)
    assert c.needs == ()
    assert d.needs == ("b", "c")
    assert d.needs_sources == (Source(path, 43, 13), Source(path, 43, 16))
    assert workflow.notebook_path(d) == folder / "d.ipynb"


def test_push_true_means_the_workflow_folder(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\non: {push: true}\n" + STEPS_AB)
    assert load_manifest(path).triggers.push_paths == ("workflows/demo/**",)


def test_defaults_without_a_defaults_section(folder: Path) -> None:
    step = load_manifest(write_manifest(folder, "name: demo\n" + STEPS_AB)).steps[1]
    assert (step.timeout, step.retries, step.retry_delay, step.kernel) == (None, 0, 0.0, "python3")
    assert step.needs == ("a",)


def test_kernel_is_the_steps_then_the_defaults_then_the_notebooks_then_python3(
    folder: Path,
) -> None:
    write_notebook(folder / "ir.ipynb", "x = 1", kernel="ir")
    notebook = json.loads((folder / "a.ipynb").read_text())
    del notebook["metadata"]["kernelspec"]
    (folder / "plain.ipynb").write_text(json.dumps(notebook))
    steps = (
        "steps:\n"
        "  - {id: own, notebook: ir.ipynb, kernel: julia}\n"
        "  - {id: nb, notebook: ir.ipynb}\n"
        "  - {id: plain, notebook: plain.ipynb}\n"
    )
    path = write_manifest(folder, "name: demo\n" + steps)
    workflow = load_manifest(path)
    assert [(s.kernel, s.kernel_source) for s in workflow.steps] == [
        ("julia", Source(path, 3, 43)),
        ("ir", None),
        ("python3", None),
    ]
    assert workflow.defaults.kernel is None

    path = write_manifest(folder, "name: demo\ndefaults: {kernel: python3}\n" + steps)
    workflow = load_manifest(path)
    assert [(s.kernel, s.kernel_source) for s in workflow.steps] == [
        ("julia", Source(path, 4, 43)),
        ("python3", Source(path, 2, 20)),
        ("python3", Source(path, 2, 20)),
    ]


def test_check_notebooks_false_does_not_read_notebooks(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "name: demo\n" + STEPS_AB)
    assert [s.id for s in load_manifest(path, check_notebooks=False).steps] == ["a", "b"]


# --------------------------------------------------------------------------- reading


def test_missing_manifest(tmp_path: Path) -> None:
    assert problems(tmp_path / "workflow.yaml") == [
        f"{tmp_path / 'workflow.yaml'}: manifest not found"
    ]


def test_empty_manifest(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "# nothing\n")
    assert one_problem(path) == (
        f"{path}:1:1: the manifest is empty; "
        "it needs at least `name:` and `steps:` (see docs/manifest.md)"
    )


def test_manifest_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "- a\n- b\n")
    assert one_problem(path) == (
        f"{path}:1:1: expected a mapping of manifest keys (name, steps, ...), got list"
    )


# YAML syntax errors: tests/manifest/test_yaml_errors.py


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "workflow.yaml"
    path.write_bytes(b"name: demo\ndescription: caf\xe9\n")
    assert one_problem(path) == f"{path}:2:17: not UTF-8 text (byte 0xe9); save the file as UTF-8"


def test_duplicate_keys_are_all_reported(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n    id: b\nname: demo\n",
    )
    assert problems(path) == [
        f"{path}:5:5: steps[0] (a).id: duplicate key 'id' (first written on line 3); "
        "remove one of them",
        f"{path}:6:1: name: duplicate key 'name' (first written on line 1); remove one of them",
    ]


# --------------------------------------------------------------------------- structure (schema)


def test_unknown_key_suggests_the_closest(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\n" + STEPS_AB + "    neds: [a]\n")
    assert one_problem(path) == (
        f"{path}:7:5: steps[1] (b).neds: unknown key 'neds'; did you mean 'needs'?"
    )


def test_unknown_key_without_a_close_match_lists_allowed_keys(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\nzzz: 1\n" + STEPS_AB)
    assert one_problem(path) == (
        f"{path}:2:1: zzz: unknown key 'zzz'; allowed keys: name, description, on, "
        "parameters, secrets, defaults, report, steps, sla, notify, ci, commit"
    )


def test_missing_required_keys(folder: Path) -> None:
    path = write_manifest(folder, "description: x\nsteps:\n  - id: a\n")
    assert problems(path) == [
        f"{path}:1:1: missing required key 'name'",
        f"{path}:3:5: steps[0] (a): missing required key 'notebook'",
    ]


def test_wrong_type_says_what_was_expected(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n    needs: a\n  - b.ipynb\n",
    )
    assert problems(path) == [
        f"{path}:5:12: steps[0] (a).needs: expected a list of step ids, got str",
        f"{path}:6:5: steps[1]: expected a step mapping with id and notebook, got str",
    ]


def test_no_steps(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\nsteps: []\n")
    assert one_problem(path) == f"{path}:2:8: steps: a workflow needs at least one step"


def test_enum_suggests_the_closest(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\nparameters:\n  n: {type: integer}\n" + STEPS_AB)
    assert one_problem(path) == (
        f"{path}:3:13: parameters.n.type: unknown value 'integer'; did you mean 'int'?"
    )


def test_enum_without_close_match_lists_values(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\ncommit: {target: zz}\n" + STEPS_AB)
    assert one_problem(path) == (
        f"{path}:2:18: commit.target: unknown value 'zz'; expected one of: current, runs-branch, pr"
    )


def test_unsafe_step_id_explains_allowed_characters(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\nsteps:\n  - id: load.csv\n    notebook: a.ipynb\n")
    assert one_problem(path) == (
        f"{path}:3:9: steps[0] (load.csv).id: invalid value 'load.csv'; a step id uses "
        "letters, digits, '_' and '-' (at most 64, starting with a letter or digit; "
        "no dots, slashes or spaces) because it becomes a file and branch name"
    )


def test_bad_workflow_name(folder: Path) -> None:
    path = write_manifest(folder, "name: Demo Flow\n" + STEPS_AB)
    assert problems(path)[0] == (
        f"{path}:1:7: name: invalid value 'Demo Flow'; a workflow name uses lower-case "
        "letters, digits, '_' and '-', starting with a letter or digit "
        "(it becomes a folder and branch name)"
    )


def test_name_must_match_the_folder(folder: Path) -> None:
    path = write_manifest(folder, "name: other\n" + STEPS_AB)
    assert one_problem(path) == (
        f"{path}:1:7: name: name 'other' differs from the workflow folder 'demo'; "
        "rename the folder or write `name: demo`"
    )


def test_bad_parameter_and_secret_names(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "parameters:\n"
        "  run-date: {type: date}\n"
        "  class: {type: str}\n"
        "secrets: [token]\n" + STEPS_AB,
    )
    assert problems(path) == [
        f"{path}:3:3: parameters.run-date: invalid name 'run-date'; a parameter name must be "
        "a Python identifier: letters, digits and '_', not starting with a digit",
        f"{path}:4:3: parameters.class: invalid name 'class'; "
        "a Python keyword cannot be a parameter name",
        f"{path}:5:11: secrets[0]: invalid value 'token'; a secret name is an environment "
        "variable name: upper-case letters, digits and '_', not starting with a digit",
    ]


def test_negative_retries(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\ndefaults: {retries: -1}\n" + STEPS_AB)
    assert one_problem(path) == f"{path}:2:21: defaults.retries: expected a number >= 0, got -1"


# --------------------------------------------------------------------------- needs and cycles


def test_unknown_need_points_at_line(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "steps:\n"
        "  - id: extract\n"
        "    notebook: a.ipynb\n"
        "  - id: load\n"
        "    notebook: b.ipynb\n"
        "    needs: [extrct]\n",
    )
    assert one_problem(path) == (
        f"{path}:7:13: steps[1] (load).needs[0]: unknown step 'extrct'; did you mean 'extract'?"
    )


def test_a_misspelt_need_is_not_followed_by_advice_to_add_needs(folder: Path) -> None:
    """Through the typo, 'extract' is upstream once it is fixed: the outputs that
    'load' and 'c' read from it are not reported as "not upstream"."""
    path = write_manifest(
        folder,
        "name: demo\n"
        "steps:\n"
        "  - id: extract\n"
        "    notebook: a.ipynb\n"
        "  - id: load\n"
        "    notebook: b.ipynb\n"
        "    needs: [extrct]\n"
        '    parameters: {x: "${{ steps.extract.outputs.a_rows }}"}\n'
        "  - id: c\n"
        "    notebook: c.ipynb\n"
        "    needs: [load]\n"
        '    parameters: {x: "${{ steps.extract.outputs.a_rows }}"}\n',
    )
    assert one_problem(path) == (
        f"{path}:7:13: steps[1] (load).needs[0]: unknown step 'extrct'; did you mean 'extract'?"
    )


def test_unknown_need_without_close_match_lists_steps(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\n" + STEPS_AB + "    needs: [zzz]\n")
    assert one_problem(path) == (
        f"{path}:7:13: steps[1] (b).needs[0]: unknown step 'zzz'; steps are: a, b"
    )


def test_duplicate_step_id(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\n" + STEPS_AB + "  - id: a\n    notebook: c.ipynb\n")
    assert one_problem(path) == (
        f"{path}:7:9: steps[2] (a).id: duplicate step id 'a'; "
        "steps[0] already uses it; step ids must be unique"
    )


def test_cycle_prints_the_loop(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        "    needs: [c]\n"
        "  - id: b\n"
        "    notebook: b.ipynb\n"
        "  - id: c\n"
        "    notebook: c.ipynb\n",
    )
    assert one_problem(path) == (
        f"{path}:5:13: steps[0] (a).needs: cycle: a -> c -> b -> a; "
        "remove one of these needs so the steps form a graph without loops"
    )


# --------------------------------------------------------------------------- notebooks


def test_missing_notebook_says_how_to_create_it(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\nsteps:\n  - id: z\n    notebook: z.ipynb\n")
    assert one_problem(path) == (
        f"{path}:4:15: steps[0] (z).notebook: notebook 'z.ipynb' not found in {folder}; "
        "create it with `nbflow new demo z`"
    )


def test_misspelt_notebook_suggests_the_close_name(folder: Path) -> None:
    write_notebook(folder / "reports" / "summarize.ipynb", "x = 1")
    path = write_manifest(
        folder, "name: demo\nsteps:\n  - id: s\n    notebook: reports/sumarize.ipynb\n"
    )
    assert one_problem(path) == (
        f"{path}:4:15: steps[0] (s).notebook: notebook 'reports/sumarize.ipynb' not found in "
        f"{folder / 'reports'}; did you mean 'reports/summarize.ipynb'? "
        "Or create it with `nbflow new demo s`"
    )


def test_step_parameters_are_checked_against_the_types_their_notebook_declares(
    folder: Path,
) -> None:
    write_notebook(
        folder / "s.ipynb",
        'min_amount: float = 0.0\ncount = 3\nlabel = "x"\nitems = []\nflag = False\nfree = None',
    )
    path = write_manifest(
        folder,
        "name: demo\n"
        "parameters:\n"
        "  on: {type: bool, default: true}\n"
        "steps:\n"
        "  - id: s\n"
        "    notebook: s.ipynb\n"
        "    parameters:\n"
        '      min_amount: "abc"\n'
        "      count: 2.5\n"
        "      label: 2024-01-31\n"
        '      items: [1, "${{ run.id }}"]\n'
        '      flag: "${{ params.on }}"\n'
        "      free: {any: thing}\n",
    )

    assert problems(path) == [
        f"{path}:8:19: steps[0] (s).parameters.min_amount: 's.ipynb' declares "
        '`min_amount: float = 0.0`: expected a number, got str "abc"; give a value of type '
        "float, or change that line of its parameters cell",
        f"{path}:9:14: steps[0] (s).parameters.count: 's.ipynb' declares `count = 3`: "
        "expected an integer, got float 2.5; give a value of type int, or change that line "
        "of its parameters cell",
    ]
    assert load_manifest(path, check_notebooks=False).step("s").parameters["count"] == 2.5


def test_notebook_path_must_stay_in_the_folder(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: ../a.ipynb\n"
        "  - id: b\n"
        "    notebook: /tmp/b.ipynb\n",
    )
    fix = "use a path relative to the folder holding workflow.yaml, without '..'"
    assert problems(path) == [
        f"{path}:4:15: steps[0] (a).notebook: notebook path '../a.ipynb' "
        f"leaves the workflow folder; {fix}",
        f"{path}:6:15: steps[1] (b).notebook: notebook path '/tmp/b.ipynb' "
        f"leaves the workflow folder; {fix}",
    ]


@pytest.mark.parametrize("key,noun", [("inputs", "input"), ("produces", "produced")])
def test_step_paths_must_stay_in_the_folder(folder: Path, key: str, noun: str) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        f"    {key}: [data/*.csv, ../x, /tmp/x.csv, 'C:\\x.csv', 'data/../../x']\n",
    )
    fix = "use a path relative to the folder holding workflow.yaml, without '..'"
    col = 7 + len(key)
    assert problems(path) == [
        f"{path}:5:{col + 13}: steps[0] (a).{key}[1]: {noun} path '../x' "
        f"leaves the workflow folder; {fix}",
        f"{path}:5:{col + 19}: steps[0] (a).{key}[2]: {noun} path '/tmp/x.csv' "
        f"leaves the workflow folder; {fix}",
        f"{path}:5:{col + 31}: steps[0] (a).{key}[3]: {noun} path 'C:\\x.csv' "
        f"leaves the workflow folder; {fix}",
        f"{path}:5:{col + 43}: steps[0] (a).{key}[4]: {noun} path 'data/../../x' "
        f"leaves the workflow folder; {fix}",
    ]


@pytest.mark.parametrize("key", ["inputs", "produces"])
def test_step_paths_must_be_a_list_of_strings(folder: Path, key: str) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        f"    {key}: data/*.csv\n"
        "  - id: b\n"
        "    notebook: b.ipynb\n"
        f"    {key}: [data/*.csv, 3]\n",
    )
    col = 7 + len(key)
    assert problems(path) == [
        f"{path}:5:{col}: steps[0] (a).{key}: expected a list of paths or globs, got str",
        f"{path}:8:{col + 13}: steps[1] (b).{key}[1]: expected a path or glob, got int",
    ]


@pytest.mark.parametrize("key", ["inputs", "produces"])
def test_expressions_in_step_paths_are_checked(folder: Path, key: str) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "parameters: {day: {type: date, default: today}}\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        f"    {key}: ['data/${{{{ params.dya }}}}.csv', 'x/${{{{ steps.a.outputs.a_rows }}}}',\n"
        f"      '${{{{ run.date }}}}/${{{{ env.HOME }}}}/${{{{ params.day }}}}.csv']\n",
    )
    col = 7 + len(key)
    assert problems(path) == [
        f"{path}:6:{col + 1}: steps[0] (a).{key}[0]: ${{{{ params.dya }}}}: "
        "unknown parameter 'dya'; did you mean 'day'?",
        f"{path}:6:{col + 31}: steps[0] (a).{key}[1]: ${{{{ steps.a.outputs.a_rows }}}}: "
        "step 'a' is not upstream of 'a'; add 'a' to the needs of 'a'",
    ]


def test_notebook_must_be_ipynb_or_a_text_notebook(folder: Path) -> None:
    path = write_manifest(folder, "name: demo\nsteps:\n  - id: a\n    notebook: a.txt\n")
    assert one_problem(path) == (
        f"{path}:4:15: steps[0] (a).notebook: 'a.txt' is not a notebook; "
        "a notebook path ends in .ipynb, or .py or .md for a jupytext text notebook"
    )


def test_invalid_notebook(folder: Path) -> None:
    (folder / "a.ipynb").write_text('{"cells": [\n  1,,\n]}')
    path = write_manifest(folder, "name: demo\n" + STEPS_AB)
    assert one_problem(path) == (
        f"{path}:4:15: steps[0] (a).notebook: invalid notebook: "
        f"{folder / 'a.ipynb'}:2:5: invalid notebook JSON: Expecting value"
    )


def test_parameter_for_a_notebook_without_parameters_cell(folder: Path) -> None:
    write_notebook(folder / "a.ipynb", None, ["x = 1"])
    path = write_manifest(
        folder,
        "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n    parameters: {x: 2}\n",
    )
    assert one_problem(path) == (
        f"{path}:5:5: steps[0] (a).parameters: notebook 'a.ipynb' has no cell tagged "
        "'parameters'; tag the cell that assigns its parameters with \"parameters\" "
        "(Jupyter: View > Cell Toolbar > Tags)"
    )


def test_parameter_the_notebook_does_not_define(folder: Path) -> None:
    write_notebook(folder / "a.ipynb", "rows_expected = 0\nlimit: int = 5")
    path = write_manifest(
        folder,
        "name: demo\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        "    parameters:\n"
        "      rows_expectd: 1\n"
        "      zzz: 2\n",
    )
    assert problems(path) == [
        f"{path}:6:7: steps[0] (a).parameters.rows_expectd: the parameters cell of 'a.ipynb' "
        "does not define 'rows_expectd'; did you mean 'rows_expected'?",
        f"{path}:7:7: steps[0] (a).parameters.zzz: the parameters cell of 'a.ipynb' "
        "does not define 'zzz'; assign it in the cell tagged \"parameters\" "
        "(it defines: rows_expected, limit)",
    ]


# --------------------------------------------------------------------------- values


def test_cron_and_duration_problems(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "on: {schedule: ['0 0 * *', '61 0 * * *']}\n"
        "defaults: {timeout: 10 minutes}\n" + STEPS_AB + "    retry_delay: 5x\n",
    )
    cron_fix = (
        "use 5 fields: minute hour day-of-month month day-of-week, "
        "e.g. '0 0 * * *' (every day at midnight UTC)"
    )
    assert problems(path) == [
        f"{path}:2:17: on.schedule[0]: invalid cron expression '0 0 * *': "
        f"expected 5 fields, got 4; {cron_fix}",
        f"{path}:2:28: on.schedule[1]: invalid cron expression '61 0 * * *'; {cron_fix}",
        f"{path}:3:21: defaults.timeout: expected a duration such as 30, '30s', '10m', "
        "'1h' or '1h30m', got '10 minutes'",
        f"{path}:9:18: steps[1] (b).retry_delay: expected a duration such as 30, '30s', "
        "'10m', '1h' or '1h30m', got '5x'",
    ]


def test_parameter_definition_problems(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "parameters:\n"
        "  n: {type: int, default: x}\n"
        "  d: {type: date, default: yesterday}\n"
        "  r: {type: choice, choices: [eu, us], default: fr}\n"
        "  c: {type: choice}\n"
        "  q: {type: int, required: true, default: 1}\n"
        "  s: {type: str, choices: [a]}\n" + STEPS_AB,
    )
    assert problems(path) == [
        f"{path}:3:27: parameters.n.default: default does not fit type int: "
        'expected an integer, got str "x"',
        f"{path}:4:28: parameters.d.default: default does not fit type date: "
        'expected a date such as 2024-01-31, got str "yesterday"; '
        "`default: today` is also accepted",
        f"{path}:5:49: parameters.r.default: default does not fit type choice: "
        'expected one of "eu", "us", got "fr"',
        f"{path}:6:3: parameters.c: a choice parameter needs `choices`; "
        "list the allowed values, e.g. `choices: [eu, us]`",
        f"{path}:7:34: parameters.q.default: a required parameter cannot have a default; "
        "remove `default` or `required: true`",
        f"{path}:8:18: parameters.s.choices: `choices` only applies to type choice, not str; "
        "write `type: choice` or remove `choices`",
    ]


# --------------------------------------------------------------------------- expressions


def test_expression_problems(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "parameters: {limit: {type: int, default: 1}}\n"
        "secrets: [TOKEN]\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        "  - id: b\n"
        "    notebook: b.ipynb\n"
        "    parameters:\n"
        "      x: ${{ params.limt }}\n"
        "  - id: c\n"
        "    notebook: c.ipynb\n"
        "    needs: []\n"
        "    parameters:\n"
        "      x: ${{ steps.a.outputs.a_rows }}\n"
        "  - id: d\n"
        "    notebook: d.ipynb\n"
        "    needs: [a]\n"
        "    parameters:\n"
        "      x: ${{ steps.a.outputs.a_rowz }}\n"
        "  - id: e\n"
        "    notebook: e.ipynb\n"
        "    parameters:\n"
        '      x: ["${{ foo }}", {y: "${{ steps.x }}"}, "${{ secrets.TOKEN }}"]\n'
        "notify:\n"
        "  on_failure: ['${{ steps.a.outputs.a_rows }}', '${{ steps.zz.outputs.q }}',\n"
        "               '${{ secrets.TOKN }}']\n",
    )
    assert problems(path) == [
        f"{path}:10:10: steps[1] (b).parameters.x: ${{{{ params.limt }}}}: "
        "unknown parameter 'limt'; did you mean 'limit'?",
        f"{path}:15:10: steps[2] (c).parameters.x: ${{{{ steps.a.outputs.a_rows }}}}: "
        "step 'a' is not upstream of 'c'; add 'a' to the needs of 'c'",
        f"{path}:20:10: steps[3] (d).parameters.x: ${{{{ steps.a.outputs.a_rowz }}}}: "
        "step 'a' does not record output 'a_rowz'; did you mean 'a_rows'?",
        f"{path}:24:11: steps[4] (e).parameters.x[0]: malformed expression '${{{{ foo }}}}'; "
        "an expression starts with one of params, steps, run, env, secrets, item",
        f"{path}:24:29: steps[4] (e).parameters.x[1].y: malformed expression "
        "'${{ steps.x }}'; expected ${{ steps.STEP_ID.outputs.NAME }}",
        f"{path}:24:48: steps[4] (e).parameters.x[2]: ${{{{ secrets.TOKEN }}}}: "
        "a secret is never written into a notebook; "
        'read it in the notebook with nbflow.secret("TOKEN")',
        f"{path}:26:16: notify.on_failure[0]: ${{{{ steps.a.outputs.a_rows }}}}: "
        "step outputs can only be used in step parameters",
        f"{path}:26:49: notify.on_failure[1]: ${{{{ steps.zz.outputs.q }}}}: "
        "step outputs can only be used in step parameters",
        f"{path}:27:16: notify.on_failure[2]: ${{{{ secrets.TOKN }}}}: "
        "undeclared secret 'TOKN'; did you mean 'TOKEN'?",
    ]


def test_unknown_output_without_close_match_says_how_to_record_it(folder: Path) -> None:
    path = write_manifest(
        folder, "name: demo\n" + STEPS_AB + "    parameters: {x: '${{ steps.a.outputs.zzz }}'}\n"
    )
    assert one_problem(path) == (
        f"{path}:7:21: steps[1] (b).parameters.x: ${{{{ steps.a.outputs.zzz }}}}: "
        "step 'a' does not record output 'zzz'; record it in a.ipynb with "
        "`nbflow.record(\"zzz\", value)` or list it under the `outputs:` of step 'a'"
    )


def test_unknown_step_in_expression(folder: Path) -> None:
    path = write_manifest(
        folder, "name: demo\n" + STEPS_AB + "    parameters: {x: '${{ steps.aa.outputs.n }}'}\n"
    )
    assert one_problem(path) == (
        f"{path}:7:21: steps[1] (b).parameters.x: ${{{{ steps.aa.outputs.n }}}}: "
        "unknown step 'aa'; did you mean 'a'?"
    )


def test_transitive_upstream_and_declared_outputs_are_accepted(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        "    outputs: [declared]\n"
        "  - id: b\n"
        "    notebook: b.ipynb\n"
        "  - id: c\n"
        "    notebook: c.ipynb\n"
        "    parameters: {x: '${{ steps.a.outputs.declared }} ${{ steps.a.outputs.a_rows }}'}\n",
    )
    assert load_manifest(path).step("c").needs == ("b",)


# --------------------------------------------------------------------------- one pass


def test_all_problems_come_out_in_one_pass(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "on: {schedule: ['bad']}\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: missing.ipynb\n"
        "    neds: [b]\n"
        "  - id: b\n"
        "    notebook: b.ipynb\n"
        "    needs: [aa]\n"
        "    timeout: soon\n",
    )
    found = problems(path)
    assert [line.split(": ", 2)[1] for line in found] == [
        "on.schedule[0]",
        "steps[0] (a).notebook",
        "steps[0] (a).neds",
        "steps[1] (b).needs[0]",
        "steps[1] (b).timeout",
    ]


def test_a_thousand_step_manifest_loads_with_every_reference_checked(tmp_path: Path) -> None:
    # Its speed is measured by bench/, not asserted here.
    folder = tmp_path / "workflows" / "big"
    lines = ["name: big", "parameters: {n: {type: int, default: 1}}", "steps:"]
    for i in range(1000):
        write_notebook(folder / f"s{i}.ipynb", "n = 0\nx = 0", [f'record("r{i}", 1)'])
        lines += [f"  - id: s{i}", f"    notebook: s{i}.ipynb", "    timeout: 5m"]
        lines += ["    parameters:", "      n: ${{ params.n }}"]
        if i:
            lines.append(f"      x: ${{{{ steps.s{i - 1}.outputs.r{i - 1} }}}}")
    path = write_manifest(folder, "\n".join(lines) + "\n")
    workflow = load_manifest(path)
    assert len(workflow.steps) == 1000
    assert workflow.steps[999].needs == ("s998",)
    assert workflow.steps[999].parameters["x"] == "${{ steps.s998.outputs.r998 }}"


# --------------------------------------------------------------------------- finding workflows


def test_find_manifests_and_resolve_workflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = write_manifest(tmp_path / "workflows" / "finance-daily", "name: finance-daily\n")
    second = write_manifest(tmp_path / "workflows" / "alpha", "name: alpha\n")
    (tmp_path / "workflows" / "not-a-workflow").mkdir()
    assert find_manifests(tmp_path) == [second, first]
    assert resolve_workflow("finance-daily", tmp_path) == first
    assert resolve_workflow(str(first.parent), tmp_path) == first
    assert resolve_workflow(str(first), tmp_path) == first
    assert resolve_workflow("workflows/alpha", tmp_path) == second
    with pytest.raises(UsageError) as exc:
        resolve_workflow("finance-dialy", tmp_path)
    assert str(exc.value) == "unknown workflow 'finance-dialy'; did you mean 'finance-daily'?"
    with pytest.raises(UsageError) as exc:
        resolve_workflow("zzz", tmp_path)
    assert str(exc.value) == "unknown workflow 'zzz'; workflows are: alpha, finance-daily"


def test_resolve_workflow_without_workflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as exc:
        resolve_workflow("x", tmp_path)
    assert str(exc.value) == (
        f"unknown workflow 'x': no workflows under {tmp_path / 'workflows'}; "
        "create one with `nbflow new NAME`"
    )


def test_env_reference_to_a_declared_secret_is_not_passed_to_a_notebook(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\nsecrets: [TOKEN]\n" + STEPS_AB + "    parameters: {x: '${{ env.TOKEN }}'}\n",
    )
    assert one_problem(path) == (
        f"{path}:8:21: steps[1] (b).parameters.x: ${{{{ env.TOKEN }}}}: a secret is never "
        'written into a notebook; read it in the notebook with nbflow.secret("TOKEN")'
    )


def test_outputs_are_not_checked_without_reading_notebooks(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        "name: demo\n"
        + STEPS_AB
        + "    parameters: {x: '${{ steps.a.outputs.anything }}', y: 1}\n",
    )
    assert load_manifest(path, check_notebooks=False).step("b").parameters == {
        "x": "${{ steps.a.outputs.anything }}",
        "y": 1,
    }


def test_control_character(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "name: demo\ndescription: a\x01b\n")
    assert one_problem(path) == (
        f"{path}:2:15: invalid YAML: control character #x0001 is not allowed; remove it"
    )


def test_a_yaml_directive_is_read(folder: Path) -> None:
    """`%YAML 1.1` used to raise IndexError from ruamel's scanner (a traceback)."""
    path = write_manifest(folder, "%YAML 1.1\n---\nname: demo\n" + STEPS_AB)
    assert [s.id for s in load_manifest(path).steps] == ["a", "b"]
    path.write_text("%YAML 2.0\n---\nname: demo\n" + STEPS_AB)
    assert one_problem(path) == (
        f"{path}:1:1: invalid YAML: found incompatible YAML document (version 1.* is required)"
    )


# --------------------------------------------------------------------------- unbuildable values


def test_an_unquoted_invalid_date_is_located_and_hides_no_other_problem(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "parameters:\n"
        "  start: {type: date, default: 2024-02-30}\n"
        "  limit: {type: int, default: x}\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        "    needs: [aa]\n"
        "    parameters: {x: 2024-13-01}\n",
    )
    assert problems(path) == [
        f"{path}:3:32: parameters.start.default: 2024-02-30 is not a valid date: "
        "day is out of range for month; write an existing date as YYYY-MM-DD, "
        'or quote it ("2024-02-30") to keep it as text',
        f"{path}:4:31: parameters.limit.default: default does not fit type int: "
        'expected an integer, got str "x"',
        f"{path}:8:13: steps[0] (a).needs[0]: unknown step 'aa'; did you mean 'a'?",
        f"{path}:9:21: steps[0] (a).parameters.x: 2024-13-01 is not a valid date: "
        "month must be in 1..12; write an existing date as YYYY-MM-DD, "
        'or quote it ("2024-13-01") to keep it as text',
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2024-01-31T25:00:00",
            "2024-01-31T25:00:00 is not a valid datetime: hour must be in 0..23; write an "
            "existing date and time as YYYY-MM-DDTHH:MM:SS, or quote it "
            '("2024-01-31T25:00:00") to keep it as text',
        ),
        (
            "2024-01-31 08:00:00 +25:00",
            "2024-01-31 08:00:00 +25:00 is not a valid datetime: the UTC offset must be less "
            "than 24 hours; write an existing date and time as YYYY-MM-DDTHH:MM:SS, or quote "
            'it ("2024-01-31 08:00:00 +25:00") to keep it as text',
        ),
        (
            "0000-01-01",
            "0000-01-01 is not a valid date: year 0 is out of range; write an existing date "
            'as YYYY-MM-DD, or quote it ("0000-01-01") to keep it as text',
        ),
        # an integer or a number by its look (underscores separate digits), but none
        (
            "+_",
            '+_ is not a valid integer; write an integer such as 42, or quote it ("+_") '
            "to keep it as text",
        ),
        (
            "._",
            '._ is not a valid number; write a number such as 1.5, or quote it ("._") '
            "to keep it as text",
        ),
        ("!!int x", "x is not a valid integer; fix the value, or remove the !!int tag"),
        ("!!float x", "x is not a valid number; fix the value, or remove the !!float tag"),
        # these raised KeyError and AttributeError: a traceback
        ("!!bool x", "x is not a valid boolean; fix the value, or remove the !!bool tag"),
        ("!!omap x", "x is not a valid !!omap value; fix the value, or remove the !!omap tag"),
    ],
)
def test_a_value_that_cannot_be_built_is_one_located_problem(
    tmp_path: Path, value: str, message: str
) -> None:
    path = write_manifest(tmp_path, f"name: demo\nsteps: {value}\n")
    # not also "steps: expected a list": one problem per value
    assert one_problem(path) == f"{path}:2:8: steps: {message}"


def test_an_invalid_date_as_a_key_or_a_list_item(folder: Path) -> None:
    path = write_manifest(
        folder,
        "name: demo\n"
        "parameters:\n"
        "  2024-02-30: {type: str}\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        "  - 2024-02-31\n",
    )
    assert problems(path) == [
        f"{path}:3:3: parameters.2024-02-30: 2024-02-30 is not a valid date: day is out of "
        'range for month; write an existing date as YYYY-MM-DD, or quote it ("2024-02-30") '
        "to keep it as text",
        f"{path}:7:5: steps[1]: 2024-02-31 is not a valid date: day is out of range for "
        'month; write an existing date as YYYY-MM-DD, or quote it ("2024-02-31") '
        "to keep it as text",
    ]


def test_a_str_tag_makes_text(folder: Path) -> None:
    """`!!str` is YAML's way to say "not a date"; ruamel kept it as a TaggedScalar, which
    was "expected text, got TaggedScalar", or a traceback in an enum's message."""
    path = write_manifest(
        folder,
        "name: demo\n"
        "description: !!str 2024-02-30\n"
        "parameters:\n"
        "  day: {type: str, default: !!str 2024-02-28}\n"
        "  odd: {type: !!str x}\n" + STEPS_AB,
    )
    assert one_problem(path) == (
        f"{path}:5:15: parameters.odd.type: unknown value 'x'; expected one of: str, int, "
        "float, bool, date, datetime, path, list, dict, choice"
    )
    path = write_manifest(folder, path.read_text().replace("  odd: {type: !!str x}\n", ""))
    workflow = load_manifest(path)
    assert (workflow.description, workflow.parameter("day").default) == (
        "2024-02-30",
        "2024-02-28",
    )


def test_valid_unquoted_dates_and_datetimes_are_unchanged(folder: Path) -> None:
    write_notebook(folder / "a.ipynb", "x = []")  # a list, as the step passes
    path = write_manifest(
        folder,
        "name: demo\n"
        "parameters:\n"
        "  day: {type: date, default: 2024-02-29}\n"
        "  at: {type: datetime, default: 2024-01-31T08:00:00}\n"
        "  midnight: {type: datetime, default: 2024-01-31}\n"
        "steps:\n"
        "  - id: a\n"
        "    notebook: a.ipynb\n"
        "    parameters: {x: [2024-02-29, 2024-01-31 08:00:00]}\n",
    )
    workflow = load_manifest(path)
    assert [p.default for p in workflow.parameters] == [
        "2024-02-29",
        "2024-01-31T08:00:00",
        "2024-01-31T00:00:00",
    ]
    assert workflow.step("a").parameters == {"x": ["2024-02-29", "2024-01-31T08:00:00"]}
