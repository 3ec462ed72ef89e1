"""run_step: the files a step declares under ``produces:`` travel with its piece, so a
step run in another copy of the project (a clean checkout, as in a CI job) reads
them. Every step here runs in its own copy: a file only arrives through a piece."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import assert_no_canary, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.engine.assemble import assemble_run
from nbflow.engine.pieces import run_step, seed_run
from nbflow.engine.runner import RunOptions
from nbflow.manifest.load import load_manifest
from nbflow.manifest.model import Workflow
from nbflow.run_record import StepStatus
from nbflow.store.pieces import Seed, write_seed

RUN = "2026-11-20T063000Z-0001"
DAY = "2026-11-21"
SECRET = "Dump's-t\u00f6ken/+9"  # its JSON form differs from its text


def handoff_workflow(folder: Path) -> Path:
    """write → split (one item per part) → read: write leaves ``data/<day>/orders.csv``
    and an undeclared ``data/scratch.txt``; each split item reads the orders and
    writes ``parts/<part>.txt``; read records what it finds."""
    write_notebook(
        folder / "write.ipynb",
        "day = ''",
        [
            "from pathlib import Path\n"
            "out = Path('data') / day / 'orders.csv'\n"
            "out.parent.mkdir(parents=True, exist_ok=True)\n"
            "out.write_text(f'day,n\\n{day},3\\n')\n"
            "Path('data/scratch.txt').write_text('not declared')"
        ],
    )
    write_notebook(
        folder / "split.ipynb",
        "day = ''\npart = ''",
        [
            "from pathlib import Path\n"
            "line = (Path('data') / day / 'orders.csv').read_text().splitlines()[1]\n"
            "Path('parts').mkdir(exist_ok=True)\n"
            "Path('parts', f'{part}.txt').write_text(f'{part}:{line}')"
        ],
    )
    write_notebook(
        folder / "read.ipynb",
        "day = ''",
        [
            "import nbflow\n"
            "from pathlib import Path\n"
            "nbflow.record('orders', (Path('data') / day / 'orders.csv').read_text())\n"
            "nbflow.record('parts', sorted(p.read_text() for p in Path('parts').glob('*.txt')))\n"
            "nbflow.record('scratch', Path('data/scratch.txt').exists())"
        ],
    )
    return write_manifest(
        folder,
        """
        name: handoff
        parameters:
          day: {type: str, default: "2026-01-01"}
        steps:
          - id: write
            notebook: write.ipynb
            produces: ["data/${{ params.day }}/*.csv"]
          - id: split
            notebook: split.ipynb
            foreach: [p, q]
            parameters: {part: "${{ item }}"}
            inputs: ["data/${{ params.day }}/orders.csv"]
            produces: ["parts/${{ item }}.txt"]
          - id: read
            notebook: read.ipynb
            inputs: ["data/${{ params.day }}/orders.csv", "parts/*.txt"]
        """,
    )


def copy_of(project: Path, name: str) -> Workflow:
    """The handoff workflow in a fresh copy of ``project`` (holding no produced file)."""
    copy = project.parent / name
    shutil.copytree(project, copy)
    return load_manifest(copy / "workflows" / "handoff" / "workflow.yaml")


def seeded(project: Path) -> tuple[Seed, Path]:
    workflow = load_manifest(project / "workflows" / "handoff" / "workflow.yaml")
    seed = seed_run(workflow, RunOptions(parameters={"day": DAY}, run_id=RUN))
    folder = project.parent / "pieces" / "seed"
    write_seed(folder, seed)
    return seed, folder


def test_produced_files_reach_the_steps_that_need_them_through_pieces(project: Path) -> None:
    handoff_workflow(project / "workflows" / "handoff")
    seed, seed_dir = seeded(project)
    pieces = project.parent / "pieces"
    folders = [seed_dir]
    for step in ["write", "split", "read"]:
        workflow = copy_of(project, f"job-{step}")
        record, _ = run_step(workflow, step, seed, folders, pieces / step)
        assert record.status == StepStatus.SUCCEEDED, record.error
        folders.append(pieces / step)

    assert record.outputs == {
        "orders": f"day,n\n{DAY},3\n",
        "parts": [f"p:{DAY},3", f"q:{DAY},3"],
        "scratch": False,  # not declared: it stayed in write's copy
    }
    files = sorted(p.relative_to(pieces).as_posix() for p in pieces.rglob("*") if p.is_file())
    assert [f for f in files if "/files/" in f] == [
        "split/files/split/parts/p.txt",
        "split/files/split/parts/q.txt",
        f"write/files/write/data/{DAY}/orders.csv",
    ]
    read_copy = project.parent / "job-read" / "workflows" / "handoff"
    assert (read_copy / "parts" / "q.txt").read_text() == f"q:{DAY},3"
    piece = json.loads((pieces / "write" / "write.json").read_text(encoding="utf-8"))
    assert "files" not in piece  # the record does not change

    assembled = assemble_run(load_manifest(read_copy / "workflow.yaml"), folders)

    assert assembled.status.value == "succeeded"
    run_dir = project.parent / "job-read" / "runs" / "handoff" / RUN
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "README.md",
        "read.ipynb",
        "run.json",
        "split.0.ipynb",
        "split.1.ipynb",
        "write.ipynb",
    ]


def test_a_step_that_failed_before_writing_still_leaves_its_piece(project: Path) -> None:
    folder = project / "workflows" / "handoff"
    handoff_workflow(folder)
    write_notebook(folder / "write.ipynb", "day = ''", ["raise ValueError('no orders today')"])
    seed, seed_dir = seeded(project)
    out = project.parent / "pieces" / "write"

    record, _ = run_step(copy_of(project, "job-write"), "write", seed, [seed_dir], out)

    assert record.status == StepStatus.FAILED
    assert record.error is not None and record.error.evalue == "no orders today"
    assert sorted(p.name for p in out.iterdir()) == ["write.ipynb", "write.json"]


def test_a_rerun_piece_holds_only_the_files_of_its_last_run(project: Path) -> None:
    handoff_workflow(project / "workflows" / "handoff")
    seed, seed_dir = seeded(project)
    out = project.parent / "pieces" / "write"
    stale = out / "files" / "write" / "data" / "old.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an earlier attempt", encoding="utf-8")

    run_step(copy_of(project, "job-write"), "write", seed, [seed_dir], out)

    assert [p.name for p in (out / "files" / "write" / "data").iterdir()] == [DAY]


def dump_workflow(project: Path) -> None:
    """A step that writes ``data/ok.csv`` and ``data/z.json``, holding the secret
    DUMP_TOKEN in JSON, both matched by its ``produces:``."""
    folder = project / "workflows" / "dump"
    write_notebook(
        folder / "write.ipynb",
        "label = ''",
        [
            "import json, nbflow\n"
            "from pathlib import Path\n"
            "Path('data/ok.csv').write_text('n\\n3\\n')\n"
            "Path('data/z.json').write_text(json.dumps({'token': nbflow.secret('DUMP_TOKEN')}))"
        ],
    )
    write_manifest(
        folder,
        """
        name: dump
        parameters:
          label: {type: str, default: none}
        secrets: [DUMP_TOKEN]
        steps:
          - {id: write, notebook: write.ipynb, produces: ["data/*"]}
        """,
    )


def test_a_produced_file_holding_a_secret_fails_the_step_and_stays_out_of_its_piece(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dump_workflow(project)
    monkeypatch.setenv("DUMP_TOKEN", SECRET)
    seed, out = project.parent / "seed", project.parent / "pieces"
    assert main(["run", "dump", "--plan", "--outputs", str(seed)]) == 0

    code = main(["run", "dump", "--step", "write", "--inputs", str(seed), "--outputs", str(out)])

    assert code == 1
    message = (
        "produced file data/z.json holds the value of secret DUMP_TOKEN: it is not put in "
        "the step's piece, which anyone who can read the repository can download; write "
        "the file without the secret, or leave it out of `produces:`"
    )
    assert capsys.readouterr().err.endswith(f"write: failed: SecretInProducedFile: {message}\n")
    assert sorted(p.name for p in out.iterdir()) == ["write.ipynb", "write.json"]
    piece = json.loads((out / "write.json").read_text(encoding="utf-8"))
    assert (piece["status"], piece["error"]["evalue"]) == ("failed", message)
    assert_no_canary(out, SECRET)


@pytest.mark.parametrize("given", ["label", "write.label"])
def test_a_seed_never_carries_a_secret_given_with_p(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    dump_workflow(project)
    monkeypatch.setenv("DUMP_TOKEN", SECRET)
    seed = project.parent / "seed"

    code = main(["run", "dump", "--plan", "--outputs", str(seed), "-p", f"{given}=x {SECRET}"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: -p {given}: its value holds a secret, and the seed of a run whose steps run "
        "apart carries parameters unmasked to every job; read the secret in the notebook "
        "with nbflow.secret() instead\n"
    )
    assert not seed.exists()
