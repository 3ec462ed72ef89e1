"""load_manifest: ``foreach:`` and ``${{ item }}``, asserted as whole messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import manifest_problems as problems
from helpers import write_manifest, write_notebook

from nbflow.manifest.load import load_manifest


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """``workflows/demo`` holding a.ipynb (records ``names``) and b.ipynb."""
    path = tmp_path / "workflows" / "demo"
    write_notebook(path / "a.ipynb", "x = 1", ['nbflow.record("names", ["p", "q"])'])
    write_notebook(path / "b.ipynb", "x = 1\nlabel = ''", ['nbflow.record("n", 1)'])
    return path


HEAD = """\
name: demo
parameters:
  regions: {type: list, default: [eu, us]}
  limit: {type: int, default: 3}
steps:
  - id: a
    notebook: a.ipynb
"""


def test_foreach_forms_load_into_the_model(folder: Path) -> None:
    path = write_manifest(
        folder,
        HEAD
        + "    foreach: [1, {k: v}]\n"
        + "    parameters: {x: '${{ item }}'}\n"
        + "  - id: b\n"
        + "    notebook: b.ipynb\n"
        + "    foreach: '${{ steps.a.outputs.names }}'\n"
        + "    parameters: {x: '${{ item.index }}', label: '${{ params.limit }}'}\n",
    )

    workflow = load_manifest(path)

    a, b = workflow.steps
    assert a.foreach == (1, {"k": "v"}) and a.is_sweep
    assert b.foreach == "${{ steps.a.outputs.names }}"
    assert b.foreach_source is not None
    assert (b.foreach_source.line, b.foreach_source.col) == (12, 14)


def test_foreach_that_is_not_a_list_or_expression(folder: Path) -> None:
    path = write_manifest(folder, HEAD + "    foreach: {x: 1}\n")

    assert problems(path) == [
        f"{path}:8:14: steps[0] (a).foreach: missing required key 'grid'",
        f"{path}:8:15: steps[0] (a).foreach.x: unknown key 'x'; allowed keys: grid",
    ]


@pytest.mark.parametrize(
    "foreach", ["eu us", "x-${{ params.regions }}", "${{ run.id }}", "${{ item }}"]
)
def test_foreach_string_must_be_one_list_expression(folder: Path, foreach: str) -> None:
    path = write_manifest(folder, HEAD + f"    foreach: '{foreach}'\n")

    assert problems(path) == [
        f"{path}:8:14: steps[0] (a).foreach: foreach '{foreach}' is neither a list nor an "
        'expression naming one; write a list ([eu, us]), "${{ params.NAME }}" (a list '
        'parameter) or "${{ steps.ID.outputs.NAME }}"'
    ]


def test_foreach_parameter_must_be_a_list(folder: Path) -> None:
    path = write_manifest(folder, HEAD + "    foreach: '${{ params.limit }}'\n")

    assert problems(path) == [
        f"{path}:8:14: steps[0] (a).foreach: ${{{{ params.limit }}}}: parameter 'limit' has "
        "type int, not list; declare it with `type: list` under `parameters: limit:`"
    ]


def test_foreach_unknown_parameter_and_output(folder: Path) -> None:
    path = write_manifest(
        folder,
        HEAD
        + "    foreach: '${{ params.region }}'\n"
        + "  - id: b\n"
        + "    notebook: b.ipynb\n"
        + "    foreach: '${{ steps.a.outputs.name }}'\n",
    )

    assert problems(path) == [
        f"{path}:8:14: steps[0] (a).foreach: ${{{{ params.region }}}}: unknown parameter "
        "'region'; did you mean 'regions'?",
        f"{path}:11:14: steps[1] (b).foreach: ${{{{ steps.a.outputs.name }}}}: step 'a' does "
        "not record output 'name'; did you mean 'names'?",
    ]


def test_empty_foreach_list(folder: Path) -> None:
    path = write_manifest(folder, HEAD + "    foreach: []\n")

    assert problems(path) == [
        f"{path}:8:14: steps[0] (a).foreach: an empty `foreach:` list runs nothing; "
        "list at least one item"
    ]


def test_item_outside_a_foreach_step(folder: Path) -> None:
    path = write_manifest(
        folder,
        HEAD
        + "    parameters: {x: '${{ item }}'}\n"
        + "notify:\n"
        + "  on_failure: ['https://example.com/${{ item.index }}']\n",
    )

    assert problems(path) == [
        f"{path}:8:21: steps[0] (a).parameters.x: ${{{{ item }}}}: only a step with "
        "`foreach:` has an item; add `foreach:` to step 'a' or remove the expression",
        f"{path}:10:16: notify.on_failure[0]: ${{{{ item.index }}}}: only a step with "
        "`foreach:` has an item",
    ]


def test_item_inside_a_literal_foreach_list(folder: Path) -> None:
    path = write_manifest(folder, HEAD + "    foreach: ['${{ item }}']\n")

    assert problems(path) == [
        f"{path}:8:15: steps[0] (a).foreach[0]: ${{{{ item }}}}: the item is not known while "
        "`foreach:` is read; name a list: ${{ params.NAME }} or ${{ steps.ID.outputs.NAME }}"
    ]


def test_malformed_item_expression(folder: Path) -> None:
    path = write_manifest(folder, HEAD + "    foreach: [1]\n    parameters: {x: '${{ item.2 }}'}\n")

    assert problems(path) == [
        f"{path}:9:21: steps[0] (a).parameters.x: malformed expression '${{{{ item.2 }}}}'; "
        "expected ${{ item }}, ${{ item.index }} or ${{ item.KEY }}"
    ]


def test_item_key_of_items_that_are_no_mappings(folder: Path) -> None:
    path = write_manifest(
        folder, HEAD + "    foreach: [1]\n    parameters: {x: '${{ item.key }}'}\n"
    )

    assert problems(path) == [
        f"{path}:9:21: steps[0] (a).parameters.x: ${{{{ item.key }}}}: the items of step 'a' "
        "are not all mappings with keys; pass the item whole (${{ item }}), or make every "
        "item a mapping"
    ]


def test_item_in_the_paths_of_a_foreach_step(folder: Path) -> None:
    path = write_manifest(
        folder,
        HEAD
        + "    foreach: [p, q]\n"
        + "    inputs: ['in/${{ item }}.csv']\n"
        + "    produces: ['out/${{ item }}-${{ item.index }}.csv']\n"
        + "  - id: b\n"
        + "    notebook: b.ipynb\n"
        + "    produces: ['out/${{ item }}.csv']\n",
    )

    assert problems(path) == [
        f"{path}:13:16: steps[1] (b).produces[0]: ${{{{ item }}}}: only a step with "
        "`foreach:` has an item; add `foreach:` to step 'b' or remove the expression"
    ]
    write_manifest(folder, path.read_text(encoding="utf-8").split("  - id: b")[0])
    (a,) = load_manifest(path).steps
    assert a.inputs == ("in/${{ item }}.csv",)
    assert a.produces == ("out/${{ item }}-${{ item.index }}.csv",)
