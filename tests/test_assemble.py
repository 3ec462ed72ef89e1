"""Steps run apart (``nbflow run --plan``, ``--step``) and ``nbflow assemble``: the
assembled run equals a local run of the same workflow, times aside."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import (
    Receiver,
    branching_workflow,
    comparable,
    git,
    injected_parameters,
    sweep_workflow,
)

from nbflow.cli import main
from nbflow.store.runs import read_record

LOCAL, APART = "2026-11-20T063000Z-0001", "2026-11-20T063000Z-0002"
ORDER = ["a", "b", "c", "d", "e", "f"]


def run_apart(project: Path, run_id: str, *extra: str) -> dict[str, int]:
    """Plan, then run each step in dependency order as a separate command, pieces
    passed through one folder per step (as artifacts would be); the exit codes."""
    seed = project / "pieces" / "seed"
    assert (
        main(["run", "branching", "--plan", "--run-id", run_id, "--outputs", str(seed), *extra])
        == 0
    )
    upstream = {"a": [], "b": ["a"], "c": ["a"], "d": ["a", "c"], "e": ["a", "c", "d"], "f": []}
    codes = {}
    for step in ORDER:
        inputs = [seed] + [project / "pieces" / u for u in upstream[step]]
        options = [x for i in inputs for x in ("--inputs", str(i))]
        codes[step] = main(
            [
                "run",
                "branching",
                "--step",
                step,
                "--run-id",
                run_id,
                *options,
                "--outputs",
                str(project / "pieces" / step),
            ]
        )
    return codes


def test_steps_run_apart_then_assembled_equal_a_local_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branching_workflow(project / "workflows" / "branching")
    assert main(["run", "branching", "--run-id", LOCAL, "-p", "label=hi", "-j", "1"]) == 1
    local = read_record(project / "runs" / "branching" / LOCAL)

    codes = run_apart(project, APART, "-p", "label=hi")
    capsys.readouterr()
    pieces = [str(p) for p in (project / "pieces").iterdir()]
    assert main(["assemble", "branching", "--run-id", APART, "--pieces", *pieces]) == 1

    assert codes == {"a": 0, "b": 0, "c": 0, "d": 1, "e": 1, "f": 0}
    assert not (project / "pieces" / "e").exists()  # not run: d failed
    run_dir = project / "runs" / "branching" / APART
    assert capsys.readouterr().out == f"{run_dir}\n"
    apart = read_record(run_dir)
    assert comparable(apart) == comparable(local)
    assert (apart.status, apart.trigger, apart.parameters) == (
        local.status,
        local.trigger,
        local.parameters,
    )
    assert apart.step("e").reason == "needs 'd', which failed"
    assert apart.step("f").parameters == {"label": "hi"}  # -p beats the step's parameters:
    assert apart.start <= apart.step("a").start and apart.end == max(
        s.end for s in apart.steps if s.end
    )
    for step in ["a", "b", "c", "d", "f"]:
        local_nb = (project / "runs" / "branching" / LOCAL / f"{step}.ipynb").read_text()
        apart_nb = (run_dir / f"{step}.ipynb").read_text()
        assert apart_nb.replace(APART, LOCAL) == local_nb
    assert injected_parameters(run_dir / "b.ipynb") == (
        f'# Parameters\ncount = 6\nrun_id = "{APART}"\n'
    )
    report = (run_dir / "README.md").read_text(encoding="utf-8")
    assert report.splitlines()[0] == f"# ❌ branching failed · run `{APART}`"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "README.md",
        "a.ipynb",
        "b.ipynb",
        "c.ipynb",
        "d.ipynb",
        "f.ipynb",
        "run.json",
    ]


def test_a_piece_is_the_step_record_with_its_run(project: Path) -> None:
    branching_workflow(project / "workflows" / "branching")
    seed, out = project / "seed", project / "out"
    assert main(["run", "branching", "--plan", "--run-id", APART, "--outputs", str(seed)]) == 0
    assert (
        main(["run", "branching", "--step", "f", "--inputs", str(seed), "--outputs", str(out)]) == 0
    )

    piece = json.loads((out / "f.json").read_text(encoding="utf-8"))
    assert (piece["workflow"], piece["run_id"], piece["id"]) == ("branching", APART, "f")
    assert piece["status"] == "succeeded"
    assert piece["parameters"] == {"label": "from the manifest"}
    assert piece["outputs"] == {"label": "from the manifest"}
    assert piece["notebook"] == "f.ipynb" and (out / "f.ipynb").is_file()
    output_path = f"runs/branching/{APART}/f.ipynb"  # relative to the project, as in a run
    assert piece["timings"]["papermill"]["output_path"] == output_path
    seeded = json.loads((seed / "run.json").read_text(encoding="utf-8"))
    assert seeded["status"] == "running" and seeded["pid"] is None
    assert seeded["parameters"] == {"limit": 3, "label": "hello"}
    assert seeded["command_line"] == {"parameters": [], "step_parameters": {}}
    assert {s["status"] for s in seeded["steps"]} == {"pending"}


def test_a_step_without_the_pieces_it_needs_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branching_workflow(project / "workflows" / "branching")
    seed = project / "seed"
    main(["run", "branching", "--plan", "--run-id", APART, "--outputs", str(seed)])
    capsys.readouterr()

    code = main(
        [
            "run",
            "branching",
            "--step",
            "d",
            "--inputs",
            str(seed),
            "--outputs",
            str(project / "out"),
        ]
    )

    assert code == 2
    assert capsys.readouterr().err == (f"error: d: no piece of 'a' (a.json) in {seed}\n")


def test_a_step_without_a_seed_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    branching_workflow(project / "workflows" / "branching")

    code = main(["run", "branching", "--step", "a", "--outputs", str(project / "out")])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: no run.json in {project / 'out'}: create the run's seed with "
        "`nbflow run WORKFLOW --plan --outputs DIR` and pass that folder\n"
    )


def test_assemble_cancels_steps_without_a_piece(project: Path) -> None:
    branching_workflow(project / "workflows" / "branching")
    seed, out = project / "seed", project / "out"
    main(["run", "branching", "--plan", "--run-id", APART, "--outputs", str(seed)])
    main(["run", "branching", "--step", "f", "--inputs", str(seed), "--outputs", str(out)])

    assert main(["assemble", "branching", "--pieces", str(seed), str(out)]) == 130

    record = read_record(project / "runs" / "branching" / APART)
    assert record.status.value == "cancelled"
    assert record.step("f").status.value == "succeeded"
    assert {s.status.value for s in record.steps if s.id != "f"} == {"cancelled"}
    assert record.step("a").reason == (
        "no piece: its job did not run, or its piece was not passed to `nbflow assemble`"
    )


def test_assemble_commits_and_notifies_like_a_run(
    project_repo: Path,
    receiver: Receiver,
) -> None:
    manifest = branching_workflow(project_repo / "workflows" / "branching")
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text + f"notify:\n  on_failure: ['{receiver.url()}']\n", encoding="utf-8")
    git(project_repo, "add", "-A")
    git(project_repo, "commit", "-q", "-m", "add branching")
    seed = project_repo.parent / "seed"
    main(["run", "branching", "--plan", "--run-id", APART, "--outputs", str(seed)])

    code = main(["assemble", "branching", "--pieces", str(seed), "--commit"])

    assert code == 130  # no step ran: cancelled
    assert git(project_repo, "log", "-1", "--format=%s").startswith("nbflow: branching")
    assert git(project_repo, "status", "--porcelain") == ""
    assert len(receiver.posts) == 1


SWEEP_JOBS = {  # job name: its command-line tail, the jobs whose pieces it reads
    "whole": [
        ("prepare", [], []),
        ("region", [], ["prepare"]),
        ("combine", [], ["prepare", "region"]),
    ],
    "one job per item": [
        ("prepare", [], []),
        ("region-0", ["--item", "0"], ["prepare"]),
        ("region-1", ["--item", "1,2"], ["prepare"]),
        ("combine", [], ["prepare", "region-0", "region-1"]),
    ],
}


def run_sweep_apart(pieces: Path, jobs: str) -> dict[str, int]:
    """Plan the sweep workflow, then run ``SWEEP_JOBS[jobs]`` each into its own
    folder; their exit codes."""
    seed = ["--run-id", APART, "--inputs", str(pieces / "seed")]
    assert (
        main(["run", "sweep", "--plan", "--run-id", APART, "--outputs", str(pieces / "seed")]) == 0
    )
    codes = {}
    for job, tail, upstream in SWEEP_JOBS[jobs]:
        step = job.partition("-")[0]
        inputs = [x for u in upstream for x in ("--inputs", str(pieces / u))]
        command = ["run", "sweep", "--step", step, *seed, *inputs, "--outputs", str(pieces / job)]
        codes[job] = main([*command, *tail])
    return codes


@pytest.mark.parametrize("jobs", list(SWEEP_JOBS))
def test_a_sweep_run_apart_keeps_every_item_notebook(
    project: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    sweep_workflow(project / "workflows" / "sweep", '"${{ steps.prepare.outputs.regions }}"')
    assert main(["run", "sweep", "--run-id", LOCAL, "-j", "2"]) == 0
    local = read_record(project / "runs" / "sweep" / LOCAL)
    pieces = project / "pieces"
    assert set(run_sweep_apart(pieces, jobs).values()) == {0}

    capsys.readouterr()
    folders = [str(p) for p in pieces.iterdir()]
    assert main(["assemble", "sweep", "--run-id", APART, "--pieces", *folders]) == 0

    run_dir = project / "runs" / "sweep" / APART
    apart = read_record(run_dir)
    assert comparable(apart) == comparable(local)
    assert apart.step("region").items == tuple(
        replace(
            i, start=a.start, end=a.end, duration=a.duration, attempts=a.attempts, timings=a.timings
        )
        for i, a in zip(local.step("region").items, apart.step("region").items, strict=True)
    )
    for index in range(3):
        apart_nb = (run_dir / f"region.{index}.ipynb").read_text()
        local_nb = (project / "runs" / "sweep" / LOCAL / f"region.{index}.ipynb").read_text()
        assert apart_nb.replace(APART, LOCAL) == local_nb


def test_an_item_without_its_part_is_cancelled_and_the_steps_after_skipped(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_workflow(project / "workflows" / "sweep", "[eu, boom, apac]")
    pieces = project / "pieces"

    codes = run_sweep_apart(pieces, "one job per item")
    capsys.readouterr()
    (pieces / "region-1" / "region.part-1.json").unlink()  # that job's piece was lost
    again = ["run", "sweep", "--step", "combine", "--inputs", str(pieces / "seed")]
    again += [x for u in ("prepare", "region-0") for x in ("--inputs", str(pieces / u))]
    assert main([*again, "--outputs", str(pieces / "combine")]) == 1
    assert capsys.readouterr().err == (
        "error: combine: not run: it needs 'region', whose item(s) 1, 2 have no part "
        "(region.part-N.json) (`nbflow assemble` records it as skipped)\n"
    )
    folders = [str(p) for p in pieces.iterdir()]
    assert main(["assemble", "sweep", "--run-id", APART, "--pieces", *folders]) == 130

    assert codes == {"prepare": 0, "region-0": 0, "region-1": 1, "combine": 1}
    assert sorted(p.name for p in pieces.glob("*/*.json")) == [
        "prepare.json",
        "region.part-0.json",
        "run.json",
    ]
    record = read_record(project / "runs" / "sweep" / APART)
    region = record.step("region")
    assert [(i.value, i.status.value) for i in region.items] == [
        ("eu", "succeeded"),
        ("boom", "cancelled"),
        ("apac", "cancelled"),
    ]
    assert region.items[1].reason == (
        "no part: the job of this item did not run, or its part was not passed to `nbflow assemble`"
    )
    assert region.status.value == "cancelled"
    combine = record.step("combine")  # as its job said
    assert (combine.status.value, combine.reason) == ("skipped", "needs 'region', which cancelled")


def test_item_indices_out_of_range_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_workflow(project / "workflows" / "sweep", "[eu, us]")
    pieces = project / "pieces"
    run_sweep_apart(pieces, "whole")
    capsys.readouterr()
    base = ["run", "sweep", "--step", "region", "--inputs", str(pieces / "seed")]
    base += ["--inputs", str(pieces / "prepare"), "--outputs", str(pieces / "more")]

    assert main([*base, "--item", "1,7"]) == 2
    assert "step 'region' has 2 items this run (indices 0 to 1)" in capsys.readouterr().err
    assert main([*base, "--item", "x"]) == 2
    assert main(["run", "sweep", "--step", "prepare", "--item", "0", *base[4:]]) == 2
    assert not (pieces / "more").exists()


def test_assembling_a_run_again_keeps_only_the_new_attempt(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branching_workflow(project / "workflows" / "branching")
    seed, out = project / "seed", project / "out"
    main(["run", "branching", "--plan", "--run-id", APART, "--outputs", str(seed)])
    main(["run", "branching", "--step", "f", "--inputs", str(seed), "--outputs", str(out)])
    assert main(["assemble", "branching", "--pieces", str(seed), str(out)]) == 130
    run_dir = project / "runs" / "branching" / APART
    assert (run_dir / "f.ipynb").is_file()

    assert main(["assemble", "branching", "--pieces", str(seed)]) == 130

    assert sorted(p.name for p in run_dir.iterdir()) == ["README.md", "run.json"]
    assert read_record(run_dir).step("f").status.value == "cancelled"
    other = project / "other"  # the same id, another run: planned for another trigger
    other.mkdir()
    data = json.loads((seed / "run.json").read_text(encoding="utf-8"))
    (other / "run.json").write_text(json.dumps({**data, "trigger": "schedule"}), encoding="utf-8")
    capsys.readouterr()
    assert main(["assemble", "branching", "--pieces", str(other)]) == 2
    assert capsys.readouterr().err == (
        f"error: {run_dir} holds another run under the id {APART} (its trigger is "
        '"manual", the seed\'s "schedule"); move it away or plan a new run\n'
    )


def test_a_lost_part_is_recorded_as_the_step_after_it_saw_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_workflow(project / "workflows" / "sweep", "[eu, us, apac]")
    pieces = project / "pieces"
    assert set(run_sweep_apart(pieces, "one job per item").values()) == {0}
    (pieces / "region-1" / "region.part-1.json").unlink()  # lost after combine ran
    capsys.readouterr()

    folders = [str(p) for p in pieces.iterdir()]
    assert main(["assemble", "sweep", "--run-id", APART, "--pieces", *folders]) == 0

    run_dir = project / "runs" / "sweep" / APART
    record = read_record(run_dir)
    region, combine = record.step("region"), record.step("combine")
    assert [(i.value, i.status.value, i.notebook) for i in region.items] == [
        ("eu", "succeeded", "region.0.ipynb"),
        ("us", "succeeded", ""),
        ("apac", "succeeded", ""),
    ]
    note = "recorded from the piece of 'combine', which ran after it; its notebook is missing"
    assert region.items[1].reason == f"no part: {note}"
    assert region.outputs == {"total": [20, 21, 42]}
    assert (combine.status.value, combine.parameters) == ("succeeded", {"totals": [20, 21, 42]})
    assert sorted(p.name for p in run_dir.glob("*.ipynb")) == [
        "combine.ipynb",
        "prepare.ipynb",
        "region.0.ipynb",
    ]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert warnings == [
        f"WARNING nbflow.engine.lost_pieces: region[{item}]: no part; {note}"
        for item in ("us", "apac")
    ]


def test_conflicting_parts_and_pieces_first_folder_wins_with_a_warning(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_workflow(project / "workflows" / "sweep", "[eu, us, apac]")
    pieces = project / "pieces"
    run_sweep_apart(pieces, "one job per item")
    again = pieces / "again"  # item 1 run a second time, by a job given --item 1
    seed = [
        "--run-id",
        APART,
        "--inputs",
        str(pieces / "seed"),
        "--inputs",
        str(pieces / "prepare"),
    ]
    main(["run", "sweep", "--step", "region", "--item", "1", *seed, "--outputs", str(again)])
    shutil.copytree(pieces / "prepare", pieces / "prepare-copy")  # the same piece twice
    (pieces / "prepare-copy" / "prepare.json").write_text(
        (pieces / "prepare" / "prepare.json").read_text(encoding="utf-8").replace('"eu"', '"EU"'),
        encoding="utf-8",
    )
    capsys.readouterr()

    order = ["seed", "again", "region-0", "region-1", "prepare", "prepare-copy", "combine"]
    folders = [str(pieces / name) for name in order]
    main(["assemble", "sweep", "--run-id", APART, "--pieces", *folders])

    record = read_record(project / "runs" / "sweep" / APART)
    first = json.loads((again / "region.part-1.json").read_text(encoding="utf-8"))
    assert record.step("region").items[1].start == first["items"][1]["start"]
    assert record.step("prepare").outputs == {"regions": ["eu", "us", "apac"]}
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert warnings == [
        "WARNING nbflow.store.pieces: "
        f"{pieces / 'prepare' / 'prepare.json'} and {pieces / 'prepare-copy' / 'prepare.json'} "
        f"both hold step 'prepare': {pieces / 'prepare' / 'prepare.json'} is used (the first "
        "folder given wins)",
        "WARNING nbflow.store.pieces: "
        f"{again / 'region.part-1.json'} and {pieces / 'region-1' / 'region.part-1.json'} both "
        f"hold item 1 of step 'region': {again / 'region.part-1.json'} is used (the first "
        "folder given wins)",
    ]


def test_a_step_after_a_skipped_one_exits_1_naming_why(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = branching_workflow(project / "workflows" / "branching")
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text + "  - id: g\n    notebook: e.ipynb\n    needs: [e]\n")
    codes = run_apart(project, APART)
    inputs = [x for p in (project / "pieces").iterdir() for x in ("--inputs", str(p))]
    capsys.readouterr()

    code = main(["run", "branching", "--step", "g", *inputs, "--outputs", "g"])

    assert (codes["d"], codes["e"], code) == (1, 1, 1)
    assert capsys.readouterr().err == (
        "error: g: not run: it needs 'e', which was not run (it needs 'd', which failed) "
        "(`nbflow assemble` records it as skipped)\n"
    )


def test_an_item_of_an_empty_sweep_exits_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_workflow(project / "workflows" / "sweep", '"${{ params.regions }}"')
    seed = project / "seed"
    plan = ["run", "sweep", "--plan", "-p", "regions=[]", "--outputs", str(seed)]
    assert main(plan) == 0
    assert main(["run", "sweep", "--step", "prepare", "--outputs", str(seed)]) == 0
    capsys.readouterr()
    base = ["run", "sweep", "--step", "region", "--inputs", str(seed), "--outputs", "more"]

    assert main([*base, "--item", "5"]) == 2
    assert capsys.readouterr().err == "error: --item 5: step 'region' has no items this run\n"
    assert not (project / "more").exists()
    assert main([*base, "--item", ""]) == 0  # a matrix over an empty list: one job, no item


def test_a_lost_whole_piece_is_recorded_as_the_step_after_it_saw_it(project: Path) -> None:
    sweep_workflow(project / "workflows" / "sweep", '"${{ params.regions }}"')
    seed = project / "seed"
    assert main(["run", "sweep", "--plan", "--run-id", APART, "--outputs", str(seed)]) == 0
    saw = {"status": "succeeded", "notebook": "prepare.ipynb", "outputs": {"regions": ["eu"]}}
    piece = {
        "workflow": "sweep",
        "run_id": APART,
        "id": "combine",
        "status": "succeeded",
        "upstream": {"prepare": {"id": "prepare", **saw}, "region": {"id": "region", **saw}},
    }
    (seed / "combine.json").write_text(json.dumps(piece), encoding="utf-8")

    assert main(["assemble", "sweep", "--pieces", str(seed)]) == 0

    prepare = read_record(project / "runs" / "sweep" / APART).step("prepare")
    assert (prepare.status.value, prepare.notebook, prepare.outputs) == (
        "succeeded",
        "",
        {"regions": ["eu"]},
    )
    assert prepare.reason == (
        "no piece: recorded from the piece of 'combine', which ran after it; its notebook "
        "is missing"
    )


def test_run_if_steps_run_apart_after_a_failure_as_in_a_local_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On GitHub such steps' jobs run though a need failed (``if: !cancelled()``): an
    ``any_failed`` step after the failed d runs, an ``all_done`` step after e (whose
    job GitHub skipped: no piece) runs, a ``none_failed`` one is skipped, as locally."""
    manifest = branching_workflow(project / "workflows" / "branching")
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        text
        + "  - {id: alert, notebook: e.ipynb, needs: [d], run_if: any_failed}\n"
        + "  - {id: tidy, notebook: e.ipynb, needs: [e], run_if: all_done}\n"
        + "  - {id: after, notebook: e.ipynb, needs: [e], run_if: none_failed}\n"
    )
    assert main(["run", "branching", "--run-id", LOCAL, "-j", "1"]) == 1
    local = read_record(project / "runs" / "branching" / LOCAL)
    codes = run_apart(project, APART)
    inputs = [x for p in (project / "pieces").iterdir() for x in ("--inputs", str(p))]
    for step in ("alert", "tidy", "after"):
        out = ["--outputs", str(project / "pieces" / step)]
        codes[step] = main(["run", "branching", "--step", step, "--run-id", APART, *inputs, *out])
    pieces = [str(p) for p in (project / "pieces").iterdir()]
    capsys.readouterr()

    assert main(["assemble", "branching", "--run-id", APART, "--pieces", *pieces]) == 1

    assert (codes["d"], codes["e"]) == (1, 1)  # e: GitHub skips its job; nbflow says why
    assert (codes["alert"], codes["tidy"], codes["after"]) == (0, 0, 0)
    apart = read_record(project / "runs" / "branching" / APART)
    assert comparable(apart) == comparable(local)
    assert [
        (apart.step(s).status.value, apart.step(s).reason) for s in ("alert", "tidy", "after")
    ] == [
        ("succeeded", "run_if any_failed: 'd' failed"),
        ("succeeded", local.step("tidy").reason),
        ("skipped", local.step("after").reason),
    ]
    assert local.step("tidy").status.value == "succeeded"
