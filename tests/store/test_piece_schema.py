"""Seeds and pieces of the wrong shape are bad input (exit 2) naming the file, the key
and what is wrong, never a traceback (store/piece_schema.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import sweep_workflow

from nbflow.cli import main

RUN = "2026-11-20T063000Z-0002"


@pytest.fixture
def seed(project: Path) -> Path:
    """The sweep workflow planned (no kernel runs): its seed folder."""
    sweep_workflow(project / "workflows" / "sweep", "[eu, us]")
    folder = project / "pieces" / "seed"
    assert main(["run", "sweep", "--plan", "--run-id", RUN, "--outputs", str(folder)]) == 0
    return folder


def piece(**fields: object) -> str:
    return json.dumps({"workflow": "sweep", "run_id": RUN, "id": "region", **fields})


SEEDS = {
    "[1,2,3]": "expected a mapping, got list",
    "null": "expected a mapping, got null",
    "[]": "expected a mapping, got list",
    '{"workflow": "sweep"}': "missing key 'run_id'",
}
PIECES = {
    "[1,2,3]": "expected a mapping, got list",
    "null": "expected a mapping, got null",
    piece(status="pending", items=[1, 2]): "items[0]: expected a mapping, got int",
    piece(status="done"): (
        'status: unknown value "done"; expected one of: pending, running, succeeded, '
        "failed, skipped, cancelled, cached"
    ),
    piece(status="failed", attempts=[{"number": 1}]): "attempts[0]: missing key 'start'",
    piece(status="pending", output_names="total"): "output_names: expected a list, got str",
}


@pytest.mark.parametrize(("text", "problem"), list(SEEDS.items()))
def test_a_seed_of_the_wrong_shape_exits_2(
    seed: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    folder = seed.parent / "bad"
    folder.mkdir()
    (folder / "run.json").write_text(text, encoding="utf-8")

    code = main(["run", "sweep", "--step", "prepare", "--inputs", str(folder), "--outputs", "o"])

    assert code == 2
    assert capsys.readouterr().err == f"error: {folder / 'run.json'}: not a run seed: {problem}\n"


def test_a_seed_whose_command_line_is_a_list_exits_2(
    seed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads((seed / "run.json").read_text(encoding="utf-8"))
    (seed / "run.json").write_text(json.dumps({**data, "command_line": []}), encoding="utf-8")
    capsys.readouterr()

    assert main(["assemble", "sweep", "--pieces", str(seed)]) == 2
    assert capsys.readouterr().err == (
        f"error: {seed / 'run.json'}: not a run seed: command_line: expected a mapping, got list\n"
    )


@pytest.mark.parametrize(("text", "problem"), list(PIECES.items()))
@pytest.mark.parametrize("name", ["region.json", "region.part-0.json"])
def test_a_piece_of_the_wrong_shape_exits_2(
    seed: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, problem: str
) -> None:
    (seed / name).write_text(text, encoding="utf-8")
    capsys.readouterr()

    assert main(["assemble", "sweep", "--pieces", str(seed)]) == 2
    assert capsys.readouterr().err == f"error: {seed / name}: not a step piece: {problem}\n"
    assert not (seed.parent.parent / "runs").exists()


def test_a_piece_that_is_not_json_exits_2(seed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (seed / "prepare.json").write_text('{"id": "prepare",', encoding="utf-8")
    capsys.readouterr()

    assert main(["assemble", "sweep", "--pieces", str(seed)]) == 2
    assert capsys.readouterr().err == (
        f"error: {seed / 'prepare.json'}: not JSON: Expecting property name enclosed in "
        "double quotes: line 1 column 18 (char 17)\n"
    )


def test_a_piece_of_another_run_is_left_out_with_a_warning(
    seed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An earlier attempt's artifact, seen by a job of "Re-run all jobs" (a new run)."""
    earlier = "2026-11-19T063000Z-0001"
    text = json.dumps({"workflow": "sweep", "run_id": earlier, "id": "prepare", "status": "failed"})
    (seed / "prepare.json").write_text(text, encoding="utf-8")
    capsys.readouterr()

    assert main(["assemble", "sweep", "--pieces", str(seed)]) == 130

    warning = f"WARNING nbflow.store.pieces: {seed / 'prepare.json'}: a piece of run {earlier}, "
    assert f"{warning}not {RUN}: left out" in capsys.readouterr().err.splitlines()


def test_a_piece_of_another_workflow_exits_2(
    seed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps({"workflow": "other", "run_id": RUN, "id": "prepare", "status": "failed"})
    (seed / "prepare.json").write_text(text, encoding="utf-8")
    capsys.readouterr()

    assert main(["assemble", "sweep", "--pieces", str(seed)]) == 2
    assert capsys.readouterr().err == (
        f"error: {seed / 'prepare.json'}: a piece of workflow 'other', not 'sweep'\n"
    )
