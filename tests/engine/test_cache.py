"""Incremental runs: a step whose fingerprint is unchanged is cached, not executed.

The workflow: ``a`` records ``double`` and ``parity`` of its parameter ``n``; ``b``
receives a's parity; ``c`` reads the file its ``inputs:`` declares (the name comes
from a workflow parameter) and b's output; ``d`` receives a's double.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import code_cell, install_kernelspec, markdown_cell, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.engine.fingerprint import matching_files, notebook_digest, step_fingerprint
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.errors import ManifestError
from nbflow.manifest.load import load_manifest
from nbflow.report.run_report import render_report
from nbflow.run_record import RunRecord, RunStatus, StepStatus

S, C = StepStatus.SUCCEEDED, StepStatus.CACHED


def b_cells(comment: str = "") -> list[str]:
    return [f"import nbflow{comment}\nnbflow.record('tens', parity * 10)"]


def write_workflow(folder: Path, cache: str = "defaults: {cache: true}") -> Path:
    write_notebook(
        folder / "a.ipynb",
        "n = 1",
        ["import nbflow\nnbflow.record('double', n * 2)\nnbflow.record('parity', n % 2)"],
    )
    write_notebook(folder / "b.ipynb", "parity = 0", b_cells())
    write_notebook(
        folder / "c.ipynb",
        "name = ''\ntens = 0",
        [
            "import nbflow, pathlib\n"
            "nbflow.record('text', pathlib.Path(name).read_text() + str(tens))"
        ],
    )
    write_notebook(folder / "d.ipynb", "double = 0", ["import nbflow\nnbflow.record('d', double)"])
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "in.txt").write_text("hello", encoding="utf-8")
    return write_manifest(
        folder,
        f"""
        name: inc
        parameters:
          n: {{type: int, default: 1}}
          file: {{type: str, default: in}}
        {cache}
        steps:
          - id: a
            notebook: a.ipynb
            parameters: {{n: "${{{{ params.n }}}}"}}
          - id: b
            notebook: b.ipynb
            parameters: {{parity: "${{{{ steps.a.outputs.parity }}}}"}}
          - id: c
            notebook: c.ipynb
            parameters:
              name: "data/${{{{ params.file }}}}.txt"
              tens: "${{{{ steps.b.outputs.tens }}}}"
            inputs: ["data/${{{{ params.file }}}}.txt"]
          - id: d
            notebook: d.ipynb
            needs: [a]
            parameters: {{double: "${{{{ steps.a.outputs.double }}}}"}}
        """,
    )


@pytest.fixture
def folder(project: Path) -> Path:
    folder = project / "workflows" / "inc"
    write_workflow(folder)
    return folder


def run(folder: Path, **options: Any) -> RunRecord:
    parameters = options.pop("parameters", {})
    record = run_workflow(
        load_manifest(folder / "workflow.yaml"), RunOptions(parameters=parameters, **options)
    )
    assert record.status == RunStatus.SUCCEEDED, [s.error for s in record.steps]
    return record


def statuses(record: RunRecord) -> dict[str, StepStatus]:
    return {s.id: s.status for s in record.steps}


def test_nothing_changed_all_cached(project: Path, folder: Path) -> None:
    first = run(folder)
    second = run(folder)

    assert statuses(first) == {"a": S, "b": S, "c": S, "d": S}
    assert statuses(second) == {"a": C, "b": C, "c": C, "d": C}
    for before, after in zip(first.steps, second.steps, strict=True):
        assert after.fingerprint == before.fingerprint and after.fingerprint
        assert after.outputs == before.outputs
        assert after.parameters == before.parameters
        assert after.cached_from == f"{first.run_id}/{before.id}.ipynb"
        assert after.reason == f"unchanged since run {first.run_id}"
        assert after.attempts == ()
    run_dir = project / "runs" / "inc" / second.run_id
    copied = run_dir / "c.ipynb"
    original = project / "runs" / "inc" / first.run_id / "c.ipynb"
    assert copied.read_bytes() == original.read_bytes()
    third = run(folder)  # cached from a cached step: points at the run that executed it
    assert {s.cached_from for s in third.steps} == {f"{first.run_id}/{i}.ipynb" for i in "abcd"}
    assert "♻️" in render_report(third)


def test_parameter_change_reruns_the_step_and_what_its_outputs_reach(folder: Path) -> None:
    run(folder)
    assert statuses(run(folder, parameters={"n": 2})) == {"a": S, "b": S, "c": S, "d": S}
    # n=4 changes a's double (b reruns: what it needs changed) but b's output stays
    # the same, so c, which only receives b's output, is cached
    assert statuses(run(folder, parameters={"n": 4})) == {"a": S, "b": S, "c": C, "d": S}
    assert statuses(run(folder, parameters={"n": 2})) == {"a": C, "b": C, "c": C, "d": C}


def test_code_change_reruns_the_step_and_dependants_whose_inputs_changed(folder: Path) -> None:
    run(folder)
    write_notebook(folder / "b.ipynb", "parity = 0", b_cells("  # same result"))
    assert statuses(run(folder)) == {"a": C, "b": S, "c": C, "d": C}
    write_notebook(folder / "b.ipynb", "parity = 0", ["import nbflow\nnbflow.record('tens', 7)"])
    record = run(folder)
    assert statuses(record) == {"a": C, "b": S, "c": S, "d": C}
    assert record.step("c").outputs == {"text": "hello7"}


def test_input_file_change_reruns_the_step_declaring_it(folder: Path) -> None:
    run(folder)
    (folder / "data" / "in.txt").write_text("changed", encoding="utf-8")
    record = run(folder)
    assert statuses(record) == {"a": C, "b": C, "c": S, "d": C}
    assert record.step("c").outputs == {"text": "changed10"}


def test_input_pattern_uses_parameters(folder: Path) -> None:
    run(folder)
    (folder / "data" / "other.txt").write_text("other", encoding="utf-8")
    record = run(folder, parameters={"file": "other"})
    assert statuses(record) == {"a": C, "b": C, "c": S, "d": C}


def test_markdown_edit_reruns_only_that_step(folder: Path) -> None:
    run(folder)
    write_notebook(
        folder / "a.ipynb",
        "n = 1",
        [
            markdown_cell("# Doubling"),
            "import nbflow\nnbflow.record('double', n * 2)\nnbflow.record('parity', n % 2)",
        ],
    )
    assert statuses(run(folder)) == {"a": S, "b": C, "c": C, "d": C}


def test_saved_outputs_and_metadata_do_not_count(folder: Path) -> None:
    run(folder)
    path = folder / "d.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    notebook["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x"}]
    notebook["cells"][1]["execution_count"] = 7
    notebook["metadata"]["widgets"] = {"state": {}}
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert statuses(run(folder)) == {"a": C, "b": C, "c": C, "d": C}


def test_force_and_force_step(folder: Path) -> None:
    run(folder)
    assert statuses(run(folder, force=True)) == {"a": S, "b": S, "c": S, "d": S}
    assert statuses(run(folder, force_steps=("b",))) == {"a": C, "b": S, "c": S, "d": C}


def test_caching_is_off_unless_asked(project: Path) -> None:
    folder = project / "workflows" / "inc"
    write_workflow(folder, cache="")
    first = run(folder)
    assert statuses(run(folder)) == {"a": S, "b": S, "c": S, "d": S}
    assert all(s.fingerprint for s in first.steps)  # recorded anyway, for a later --cached
    assert statuses(run(folder, cached=True)) == {"a": C, "b": C, "c": C, "d": C}


def test_step_cache_false_always_runs(project: Path) -> None:
    folder = project / "workflows" / "inc"
    manifest = write_workflow(folder, cache="")
    text = manifest.read_text(encoding="utf-8").replace(
        "notebook: d.ipynb", "notebook: d.ipynb\n    cache: false"
    )
    manifest.write_text(text, encoding="utf-8")
    run(folder)
    assert statuses(run(folder, cached=True)) == {"a": C, "b": C, "c": C, "d": S}


def test_a_step_whose_files_are_gone_runs_again(project: Path) -> None:
    folder = project / "workflows" / "files"
    write_notebook(folder / "make.ipynb", None, ["open('made.txt', 'w').write('made')"])
    write_notebook(folder / "use.ipynb", None, ["assert open('made.txt').read() == 'made'"])
    write_manifest(
        folder,
        """
        name: files
        defaults: {cache: true}
        steps:
          - {id: make, notebook: make.ipynb, produces: [made.txt]}
          - {id: use, notebook: use.ipynb, inputs: [made.txt]}
        """,
    )
    run(folder)
    assert statuses(run(folder)) == {"make": C, "use": C}

    (folder / "made.txt").unlink()  # a clean-up step, or a fresh checkout

    assert statuses(run(folder)) == {"make": S, "use": C}  # made again, the same
    assert (folder / "made.txt").read_text() == "made"


def test_cli_cached_force_step(project: Path, folder: Path, capsys: Any, caplog: Any) -> None:
    assert main(["run", "inc", "--cached"]) == 0
    assert main(["run", "inc", "--force-step", "c", "--json"]) == 0
    record = RunRecord.from_json(json.loads(capsys.readouterr().out.split("\n", 1)[1]))
    earlier = sorted(p.parent.name for p in (project / "runs" / "inc").glob("*/run.json"))
    why = (record.run_id, earlier, [(s.id, s.fingerprint) for s in record.steps], caplog.text)
    assert statuses(record) == {"a": C, "b": C, "c": S, "d": C}, why
    assert main(["run", "inc", "--force-step", "nope"]) == 2


def test_unknown_parameter_in_inputs_is_located(project: Path) -> None:
    folder = project / "workflows" / "inc"
    manifest = write_workflow(folder)
    text = manifest.read_text(encoding="utf-8").replace(
        'params.file }}.txt"]', 'params.fil }}.txt"]'
    )
    manifest.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as exc:
        load_manifest(manifest)
    assert str(exc.value) == (
        f"{manifest}:18:14: steps[2] (c).inputs[0]: ${{{{ params.fil }}}}: "
        "unknown parameter 'fil'; did you mean 'file'?"
    )


def test_cli_counts_cached_steps_as_done(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")  # plain lines, as in a pipe or CI
    assert main(["run", "inc", "--cached"]) == 0
    capsys.readouterr()
    assert main(["run", "inc", "--cached"]) == 0
    finish = capsys.readouterr().err.splitlines()[-2]  # the last line says where the run is
    assert re.fullmatch(r"nbflow: inc succeeded \(4/4 steps, 4 cached\) in \d+\.\d s", finish)


def test_a_tag_change_reruns_the_step(folder: Path) -> None:
    """Tags change what papermill does (``raises-exception``), so they count."""
    run(folder)
    tagged = code_cell("import nbflow\nnbflow.record('tens', parity * 10)", tags=["hide-input"])
    write_notebook(folder / "b.ipynb", "parity = 0", [tagged])
    assert statuses(run(folder)) == {"a": C, "b": S, "c": C, "d": C}


def test_a_kernel_change_reruns_the_step(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same code on another kernel is another result: the kernel name counts."""
    install_kernelspec(tmp_path / "jupyter", "other")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    run(folder)
    manifest = folder / "workflow.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("notebook: d.ipynb", "notebook: d.ipynb\n    kernel: other"))

    record = run(folder)

    assert statuses(record) == {"a": C, "b": C, "c": C, "d": S}
    assert record.step("d").outputs == {"d": 2}


def test_source_as_text_or_as_lines_is_the_same_notebook(tmp_path: Path) -> None:
    """Jupyter saves a cell's source as a list of lines, other tools as one string:
    re-saving the same code either way must not change the fingerprint."""
    path = write_notebook(tmp_path / "n.ipynb", "n = 1", ["import nbflow\nnbflow.record('x', n)"])
    as_text = notebook_digest(path)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True)
    path.write_text(json.dumps(notebook, indent=2), encoding="utf-8")

    assert notebook_digest(path) == as_text
    cell = notebook["cells"][1]
    cell["source"] = [*cell["source"], "\nprint(n)"]
    path.write_text(json.dumps(notebook, indent=2), encoding="utf-8")
    assert notebook_digest(path) != as_text


def _wild_notebook(path: Path) -> Path:
    """nbformat 4.4 (no cell ids), sources as lists of lines, tags out of order, a
    markdown and a raw cell, and outputs that do not count."""
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["z", "parameters"]}, "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}],
         "source": ["n = 1\n", "m = 'Zürich'"]},
        {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
        {"cell_type": "raw", "metadata": {"tags": []}, "source": ["raw\n"]},
    ]  # fmt: skip
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def test_a_notebooks_digest_is_the_one_earlier_runs_recorded(tmp_path: Path) -> None:
    """The notebook's part of a fingerprint, now taken from the manifest check's
    reading of the file (ids given, validated), is what earlier nbflow computed from
    the file's JSON: sha256 of [type, source, sorted tags] per cell."""
    import hashlib

    from nbflow.manifest.notebooks import inspect_notebook

    path = _wild_notebook(tmp_path / "wild.ipynb")
    cells = [
        ["code", "n = 1\nm = 'Zürich'", ["parameters", "z"]],
        ["markdown", "# Title", []],
        ["raw", "raw\n", []],
    ]
    text = json.dumps(cells, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    earlier = hashlib.sha256(text.encode("utf-8")).hexdigest()

    assert inspect_notebook(path).source_digest == earlier
    assert notebook_digest(path) == earlier


def test_a_notebook_the_manifest_check_read_is_not_read_again_for_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbflow.engine import fingerprint
    from nbflow.manifest.notebooks import inspect_notebook

    path = _wild_notebook(tmp_path / "wild.ipynb")
    digest = inspect_notebook(path).source_digest

    def no_second_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the notebook was parsed again")

    monkeypatch.setattr(fingerprint.json, "load", no_second_read)

    assert notebook_digest(path) == digest


def test_parameter_order_does_not_change_the_fingerprint() -> None:
    """Parameters arrive in manifest, notebook or -p order: the same values in another
    order are the same inputs (a mutation survivor: ``sort_keys=False``)."""
    parts = {"notebook": "abc", "kernel": "python3", "needs": {}, "inputs": {}}
    one = step_fingerprint(parameters={"n": 1, "name": "x", "when": "2024-05-01"}, **parts)
    other = step_fingerprint(parameters={"when": "2024-05-01", "name": "x", "n": 1}, **parts)
    assert one == other
    assert step_fingerprint(parameters={"n": 2, "name": "x", "when": "2024-05-01"}, **parts) != one


def test_a_fingerprint_an_earlier_nbflow_recorded_still_matches() -> None:
    """nbflow's own version does not count: upgrading it keeps earlier runs reusable.
    The value is sha256 of the parts and ``"version": 1`` as compact JSON with sorted
    keys, UTF-8 as it is (not ``\\u`` escapes); a change to the recipe bumps ``VERSION``
    (every step then runs once) and this value."""
    fingerprint = step_fingerprint(
        notebook="abc",
        kernel="python3",
        parameters={"n": 1, "city": "Zürich"},
        needs={"a": "def"},
        inputs={"data/*.csv": {"data/x.csv": "012"}},
    )
    assert fingerprint == "b5361e0e962dd6aed6f78bfb49966f869e9911e7c4b3be43abb017feba13c5c8"


def test_a_notebook_put_back_with_an_older_time_is_read_again(tmp_path: Path) -> None:
    """The digest memo is keyed on the file's exact (mtime, size): a different file
    with an older time (``cp -p``, an unpacked archive) is not an earlier read of it."""
    path = write_notebook(tmp_path / "n.ipynb", "n = 1", ["x = n"])
    first = notebook_digest(path)
    stat = path.stat()
    write_notebook(path, "n = 2", ["x = n"])  # the same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))
    assert notebook_digest(path) != first


def test_double_star_inputs_span_folders(tmp_path: Path) -> None:
    for relative in ("data/a.csv", "data/2024/b.csv", "data/2024/05/c.csv"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x", encoding="utf-8")
    assert matching_files(tmp_path, "data/**/*.csv") == [
        "data/2024/05/c.csv",
        "data/2024/b.csv",
        "data/a.csv",
    ]


def test_the_steps_upstream_are_found_only_for_a_step_naming_their_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding every step upstream of a step walks the graph (a chain: O(steps) for
    each step); a step whose expressions name no step's outputs does without."""
    import shutil

    from nbflow.engine import tasks
    from nbflow.engine.step import StepResult
    from nbflow.run_record import utc_now

    folder = tmp_path / "workflows" / "chain"
    for name in "abcd":
        write_notebook(folder / f"{name}.ipynb", "x = 0", ["import nbflow\nnbflow.record('x', x)"])
    workflow = load_manifest(
        write_manifest(
            folder,
            """
            name: chain
            steps:
              - {id: a, notebook: a.ipynb}
              - {id: b, notebook: b.ipynb, needs: [a]}
              - {id: c, notebook: c.ipynb, needs: [b]}
              - id: d
                notebook: d.ipynb
                needs: [c]
                parameters: {x: "${{ steps.a.outputs.x }}"}
            """,
        )
    )
    walked: list[tuple[str, ...]] = []

    def upstream(workflow: Any, roots: Any) -> set[str]:
        walked.append(tuple(roots))
        return real_upstream(workflow, roots)

    real_upstream = tasks.upstream
    monkeypatch.setattr(tasks, "upstream", upstream)

    def executor(task: Any, handle: Any, cancelled: Any) -> StepResult:
        shutil.copyfile(task.notebook, task.output)
        now = utc_now()
        return StepResult(S, now, now, 0.0, outputs={"x": 7} if task.step_id == "a" else {})

    record = run_workflow(workflow, RunOptions(), executor=executor)

    assert [s.status for s in record.steps] == [S, S, S, S]
    assert record.step("d").parameters == {"x": 7}
    assert walked == [("c",)]
