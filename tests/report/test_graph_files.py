"""``nbflow graph`` of a real manifest: sweep items (names, a count, or the expression
naming them) and, with ``--files``, the files steps read and write."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import write_manifest, write_notebook

from nbflow.cli import main

MANIFEST = """
    name: grid
    parameters:
      regions: {type: list, default: [eu, us]}
    steps:
      - id: prepare
        notebook: prepare.ipynb
        inputs: ["data/raw/*.csv"]
        produces: [data/clean.csv]
      - id: fit
        notebook: fit.ipynb
        foreach: [svc, forest]
        inputs: [data/clean.csv]
        produces: ["models/${{ item }}.pkl"]
      - id: score
        notebook: fit.ipynb
        foreach: [1, 2, 3, 4, 5, 6]
      - id: per_region
        notebook: fit.ipynb
        needs: [prepare]
        foreach: "${{ params.regions }}"
    """


@pytest.fixture
def grid(project: Path) -> Path:
    folder = project / "workflows" / "grid"
    write_notebook(folder / "prepare.ipynb", None, ["1"])
    write_notebook(folder / "fit.ipynb", "item = None", ["1"])
    return write_manifest(folder, MANIFEST)


def graph(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["graph", "grid", *args]) == 0
    return capsys.readouterr().out


def test_text_names_items_counts_many_and_lists_files(
    grid: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert graph(capsys) == (
        "grid: 4 steps in 3 layers\n"
        "[1]  prepare\n"
        "[2]  fit (2 items: svc, forest)                 ← needs prepare\n"
        "[2]  per_region (items: ${{ params.regions }})  ← needs prepare\n"
        "[3]  score (6 items)                            ← needs fit\n"
        "\n"
    )
    files = graph(capsys, "--files").splitlines()
    assert files[1:5] == [
        "[1]  prepare",
        "     reads data/raw/*.csv",
        "     writes data/clean.csv",
        "[2]  fit (2 items: svc, forest)                 ← needs prepare",
    ]
    assert files[5:7] == ["     reads data/clean.csv", "     writes models/${{ item }}.pkl"]


def test_mermaid_draws_files_as_cylinders_with_dashed_edges(
    grid: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = graph(capsys, "--format", "mermaid", "--files").splitlines()
    assert '    s_fit["fit (2 items: svc, forest)"]' in lines
    assert '    s_score["score (6 items)"]' in lines
    assert [line for line in lines if line.startswith("    f_") or "-.->" in line] == [
        '    f_1[("data/raw/*.csv")]',
        '    f_2[("data/clean.csv")]',
        '    f_3[("models/${{ item }}.pkl")]',
        "    f_1 -.-> s_prepare",
        "    f_2 -.-> s_fit",
        "    s_prepare -.-> f_2",
        "    s_fit -.-> f_3",
    ]
    assert not any("f_" in line for line in graph(capsys, "--format", "mermaid").splitlines())


def test_dot_parses_with_items_in_labels_and_file_nodes(
    grid: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pydot

    text = graph(capsys, "--format", "dot", "--files")
    (parsed,) = pydot.graph_from_dot_data(text) or [None]
    assert parsed is not None, text
    unquote = lambda name: name.strip('"')  # noqa: E731
    nodes = {unquote(n.get_name()): n for n in parsed.get_nodes()}
    labels = {name: unquote(n.get_label() or name) for name, n in nodes.items()}
    assert labels["fit"] == "fit (2 items: svc, forest)"
    assert labels["per_region"] == "per_region (items: ${{ params.regions }})"
    assert nodes["file:data/clean.csv"].get_shape() == "cylinder"
    edges = {
        (unquote(e.get_source()), unquote(e.get_destination()), e.get_style())
        for e in parsed.get_edges()
    }
    assert edges == {
        ("prepare", "fit", None),
        ("prepare", "per_region", None),
        ("fit", "score", None),
        ("file:data/raw/*.csv", "prepare", "dashed"),
        ("prepare", "file:data/clean.csv", "dashed"),
        ("file:data/clean.csv", "fit", "dashed"),
        ("fit", "file:models/${{ item }}.pkl", "dashed"),
    }
    if shutil.which("dot"):
        result = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
