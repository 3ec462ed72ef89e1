"""Sweeps like a grid: ``foreach: {grid: …}`` and ``${{ item.KEY }}``, through real
kernels; items named by their keys in records, reports, logs and matrix job names."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import injected_parameters, write_manifest, write_notebook

from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.errors import ManifestError
from nbflow.github.jobs import sweep_matrices
from nbflow.manifest.load import load_manifest
from nbflow.manifest.model import Grid
from nbflow.report.run_report import render_report
from nbflow.run_record import RunRecord, RunStatus, StepStatus, item_name
from nbflow.store.pieces import Seed

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)

GRID = """
    name: grid
    parameters:
      depths: {type: list, default: [1, 3]}
    steps:
      - id: fit
        notebook: fit.ipynb
        foreach: {grid: {model: [svc, forest], depth: "${{ params.depths }}"}}
        parameters:
          model: "${{ item.model }}"
          depth: "${{ item.depth }}"
          position: "${{ item.index }}"
          whole: "${{ item }}"
        produces: ["out/${{ item.model }}-${{ item.depth }}.txt"]
      - id: summary
        notebook: summary.ipynb
        parameters: {scores: "${{ steps.fit.outputs.score }}"}
    """


def grid_workflow(folder: Path, manifest: str = GRID) -> Path:
    write_notebook(
        folder / "fit.ipynb",
        "model = ''\ndepth = 0\nposition = -1\nwhole = {}",
        [
            "import nbflow, pathlib\n"
            "assert model != 'boom', 'no such model'\n"
            "pathlib.Path(f'out/{model}-{depth}.txt').write_text(str(position))\n"
            "nbflow.record('score', len(model) * 10 + depth)"
        ],
    )
    write_notebook(
        folder / "summary.ipynb",
        "scores = []",
        ["import nbflow\nnbflow.record('best', max(scores))"],
    )
    return write_manifest(folder, manifest)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_grid_runs_every_combination_first_key_slowest(project: Path) -> None:
    manifest = grid_workflow(project / "workflows" / "grid")
    workflow = load_manifest(manifest)
    assert workflow.step("fit").foreach == Grid(
        (("model", ("svc", "forest")), ("depth", "${{ params.depths }}"))
    )

    record = run_workflow(workflow, RunOptions(jobs=2, now=NOW))

    assert record.status == RunStatus.SUCCEEDED, [s.error for s in record.steps]
    fit = record.step("fit")
    combos = [{"model": "svc", "depth": 1}, {"model": "svc", "depth": 3}]
    combos += [{"model": "forest", "depth": 1}, {"model": "forest", "depth": 3}]
    assert [(i.index, i.value) for i in fit.items] == list(enumerate(combos))
    assert [i.parameters for i in fit.items] == [
        {**combo, "position": n, "whole": combo} for n, combo in enumerate(combos)
    ]
    assert [i.notebook for i in fit.items] == [f"fit.{n}.ipynb" for n in range(4)]
    assert [i.label("fit") for i in fit.items] == [
        "fit[model=svc,depth=1]",
        "fit[model=svc,depth=3]",
        "fit[model=forest,depth=1]",
        "fit[model=forest,depth=3]",
    ]
    assert fit.outputs == {"score": [31, 33, 61, 63]}
    assert record.step("summary").outputs == {"best": 63}
    out = manifest.parent / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "forest-1.txt",
        "forest-3.txt",
        "svc-1.txt",
        "svc-3.txt",
    ]
    assert (out / "forest-3.txt").read_text() == "3"
    run_dir = project / "runs" / "grid" / record.run_id
    assert 'model = "forest"\ndepth = 1\nposition = 2\n' in injected_parameters(
        run_dir / "fit.2.ipynb"
    )
    report = render_report(record)
    assert "fit[model=forest,depth=3]" in report


def test_a_failed_grid_item_is_named_by_its_keys(project: Path) -> None:
    manifest = grid_workflow(
        project / "workflows" / "grid", GRID.replace("[svc, forest]", "[svc, boom]")
    )

    logger, logs = logging.getLogger("nbflow"), Records()  # the CLI's set-up may not propagate
    level = logger.level
    logger.addHandler(logs)
    logger.setLevel(logging.INFO)
    try:
        record = run_workflow(load_manifest(manifest), RunOptions(jobs=2, now=NOW))
    finally:
        logger.removeHandler(logs)
        logger.setLevel(level)

    fit = record.step("fit")
    assert fit.status == StepStatus.FAILED
    messages = [r.getMessage() for r in logs.records]
    assert any(m.startswith("fit[model=boom,depth=3]: attempt 1 failed") for m in messages)
    assert fit.error is not None
    assert fit.error.evalue.startswith("fit[model=boom,depth=1]: no such model")
    assert "fit[model=boom,depth=3]" in render_report(record)


def test_a_parameter_changes_the_grid(project: Path) -> None:
    manifest = grid_workflow(project / "workflows" / "grid")

    record = run_workflow(
        load_manifest(manifest), RunOptions(jobs=2, now=NOW, parameters={"depths": [5]})
    )

    assert [i.value for i in record.step("fit").items] == [
        {"model": "svc", "depth": 5},
        {"model": "forest", "depth": 5},
    ]


def test_item_key_of_a_list_of_mappings_and_item_index_stays_the_position(project: Path) -> None:
    manifest = grid_workflow(
        project / "workflows" / "grid",
        GRID.replace(
            'foreach: {grid: {model: [svc, forest], depth: "${{ params.depths }}"}}',
            "foreach: [{model: svc, depth: 2, index: 7}]",
        ),
    )

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1, now=NOW))

    (item,) = record.step("fit").items
    assert item.parameters["position"] == 0  # the position, not the key named index
    assert (item.parameters["model"], item.parameters["depth"]) == ("svc", 2)
    assert item.label("fit") == "fit[model=svc,depth=2,index=7]"


def test_an_item_key_missing_at_run_time_fails_the_step_naming_it(project: Path) -> None:
    folder = project / "workflows" / "grid"
    grid_workflow(folder)
    write_notebook(
        folder / "prepare.ipynb", None, ["import nbflow\nnbflow.record('runs', [{'model': 'a'}])"]
    )
    manifest = write_manifest(
        folder,
        """
        name: grid
        steps:
          - id: prepare
            notebook: prepare.ipynb
          - id: fit
            notebook: fit.ipynb
            foreach: "${{ steps.prepare.outputs.runs }}"
            parameters: {model: "${{ item.model }}", depth: "${{ item.depth }}"}
        """,
    )

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1, now=NOW))

    fit = record.step("fit")
    assert fit.status == StepStatus.FAILED
    assert fit.error is not None
    assert "${{ item.depth }}: item 0 has no key 'depth' (known: model)" in fit.error.evalue


def problems(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    return [str(p) for p in exc.value.problems]


def test_grid_mistakes_are_located_with_a_fix(tmp_path: Path) -> None:
    folder = tmp_path / "workflows" / "grid"
    grid_workflow(folder)
    path = write_manifest(
        folder,
        """
        name: grid
        steps:
          - id: fit
            notebook: fit.ipynb
            foreach:
              grid:
                index: [1, 2]
                depth: [1, 1]
                model: svc
                2x: []
              sort: true
            parameters: {model: "${{ item.modle }}"}
        """,
    )

    assert problems(path) == [
        f"{path}:7:9: steps[0] (fit).foreach.grid.index: grid key 'index' would hide the "
        "item's position (${{ item.index }}); name the key otherwise, e.g. `position` or `fold`",
        f"{path}:8:16: steps[0] (fit).foreach.grid.depth: grid key 'depth' lists a value "
        "twice; list each value once: two equal items would have one name and one result",
        f"{path}:9:16: steps[0] (fit).foreach.grid.model: grid key 'model': 'svc' is neither a "
        'list nor an expression naming one; write a list ([eu, us]), "${{ params.NAME }}" (a '
        'list parameter) or "${{ steps.ID.outputs.NAME }}"',
        f"{path}:10:9: steps[0] (fit).foreach.grid.2x: grid key '2x' is not a name; use "
        "letters, digits and '_', not starting with a digit: it is read as ${{ item.KEY }}",
        f"{path}:10:13: steps[0] (fit).foreach.grid.2x: grid key '2x' lists nothing: it runs "
        "nothing; list at least one item",
        f"{path}:11:7: steps[0] (fit).foreach.sort: unknown key 'sort'; allowed keys: grid",
        f"{path}:12:25: steps[0] (fit).parameters.model: ${{{{ item.modle }}}}: the items of "
        "step 'fit' have no key 'modle'; did you mean 'model'?",
    ]


def test_item_key_of_items_that_are_not_mappings_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "workflows" / "grid"
    grid_workflow(folder)
    path = write_manifest(
        folder,
        """
        name: grid
        steps:
          - id: fit
            notebook: fit.ipynb
            foreach: [svc, {model: forest}]
            parameters: {model: "${{ item.model }}"}
        """,
    )

    assert problems(path) == [
        f"{path}:6:25: steps[0] (fit).parameters.model: ${{{{ item.model }}}}: the items of "
        "step 'fit' are not all mappings with keys; pass the item whole (${{ item }}), or "
        "make every item a mapping",
    ]


def test_matrix_jobs_of_a_grid_are_named_by_its_keys(tmp_path: Path) -> None:
    workflow = load_manifest(grid_workflow(tmp_path / "workflows" / "grid"))
    record = RunRecord("grid", "2026-12-02T060000Z-0001", RunStatus.RUNNING, "push", "2026-12-02")

    matrices = sweep_matrices(workflow, Seed(replace(record, parameters={"depths": [1, 3]})))

    assert matrices["items-fit"]["include"] == [
        {"item": "0", "name": "model=svc,depth=1"},
        {"item": "1", "name": "model=svc,depth=3"},
        {"item": "2", "name": "model=forest,depth=1"},
        {"item": "3", "name": "model=forest,depth=3"},
    ]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ({"model": "svc", "depth": 1}, "model=svc,depth=1"),
        ({"on": True, "ratio": 0.5, "none": None}, "on=true,ratio=0.5,none=null"),
        ({"model": "a,b"}, "4"),  # a comma or '=' in a value would make the name ambiguous
        ({"model": ["svc"]}, "4"),  # not a plain value
        ({"k": "x" * 80}, "4"),  # too long to name a job
        ({}, "4"),
        ("eu", "eu"),
    ],
)
def test_item_names(value: object, name: str) -> None:
    assert item_name(4, value) == name
