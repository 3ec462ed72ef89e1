"""Steps written as jupytext text notebooks (.py percent or light, .md), run by real
kernels: the run folder holds the executed .ipynb; validation, fingerprints,
``--changed`` and ``nbflow inject`` work on the text file."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import papermill
import pytest
from helpers import (
    commit_all,
    git,
    injected_parameters,
    latest_run,
    write_manifest,
    write_notebook,
)

from nbflow.cli import main
from nbflow.engine.fingerprint import file_digest, notebook_digest
from nbflow.engine.outputs import read_outputs
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.load import load_manifest
from nbflow.manifest.notebooks import inspect_notebook
from nbflow.run_record import RunStatus, StepStatus

PERCENT_WITH_HEADER = """\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.1
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Fit

# %% tags=["parameters"]
depth: int = 1
label = "none"

# %%
import nbflow
nbflow.record("score", depth * 10)
nbflow.record("label", label)
"""

LIGHT = """\
# # Fit

# + tags=["parameters"]
depth: int = 1
label = "none"
# -

import nbflow
nbflow.record("score", depth * 10)
nbflow.record("label", label)
"""

MARKDOWN = """\
# Fit

```python tags=["parameters"]
depth: int = 1
label = "none"
```

```python
import nbflow
nbflow.record("score", depth * 10)
nbflow.record("label", label)
```
"""

PERCENT = PERCENT_WITH_HEADER.split("# ---\n\n", 1)[1]  # no jupytext header at all

FORMATS = {
    "percent-header": ("fit.py", PERCENT_WITH_HEADER),
    "percent": ("fit.py", PERCENT),
    "light": ("fit.py", LIGHT),
    "markdown": ("fit.md", MARKDOWN),
}

MANIFEST = """
    name: text
    steps:
      - id: fit
        notebook: {name}
        parameters: {{depth: 3, label: "${{{{ run.date }}}}"}}
      - id: summary
        notebook: summary.ipynb
        parameters: {{score: "${{{{ steps.fit.outputs.score }}}}"}}
    """


def text_workflow(project: Path, name: str, text: str) -> Path:
    folder = project / "workflows" / "text"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    write_notebook(
        folder / "summary.ipynb", "score = 0", ["import nbflow\nnbflow.record('twice', score * 2)"]
    )
    return write_manifest(folder, MANIFEST.format(name=name))


@pytest.mark.parametrize("form", list(FORMATS))
def test_a_text_notebook_step_runs_and_leaves_an_executed_ipynb(project: Path, form: str) -> None:
    name, text = FORMATS[form]
    manifest = text_workflow(project, name, text)

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    assert record.status == RunStatus.SUCCEEDED, [s.error for s in record.steps]
    folder = project / "runs" / "text" / record.run_id
    fit = record.step("fit")
    assert (fit.notebook, fit.source_notebook, fit.kernel) == ("fit.ipynb", name, "python3")
    assert fit.outputs == {"score": 30, "label": record.run_context["date"]}
    assert record.step("summary").outputs == {"twice": 60}
    executed = json.loads((folder / "fit.ipynb").read_text(encoding="utf-8"))
    assert executed["nbformat"] == 4
    assert "jupytext" not in executed["metadata"]  # paired with nothing in the run folder
    tags = [c["metadata"].get("tags", []) for c in executed["cells"]]
    assert tags.index(["parameters"]) + 1 == tags.index(["injected-parameters"])
    assert injected_parameters(folder / "fit.ipynb").startswith("# Parameters\ndepth = 3\n")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "fit.ipynb",
        "run.json",
        "summary.ipynb",
    ]
    assert (manifest.parent / name).read_text(encoding="utf-8") == text  # left as it is


def test_the_kernel_of_a_text_notebook_comes_from_its_header(project: Path) -> None:
    header = PERCENT_WITH_HEADER.replace("name: python3", "name: ir")
    text_workflow(project, "fit.py", header)

    assert inspect_notebook(project / "workflows/text/fit.py").kernel == "ir"
    assert inspect_notebook(project / "workflows/text/summary.ipynb").kernel == "python3"
    assert main(["run", "text"]) == 2  # ir is not installed: refused before anything runs
    assert not (project / "runs" / "text").exists()


def test_validate_locates_a_syntax_error_at_the_text_files_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = PERCENT_WITH_HEADER.replace('label = "none"', 'label = ("none"')
    manifest = text_workflow(project, "fit.py", broken)
    line = broken.splitlines().index('label = ("none"') + 1

    assert main(["validate", str(manifest)]) == 2

    err = capsys.readouterr().out
    assert f"the parameters cell of 'fit.py' has a syntax error: line {line} " in err
    assert line == 20 and "cell 2" not in err


def test_validate_names_a_text_notebook_jupytext_cannot_read(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = PERCENT_WITH_HEADER.replace("#   kernelspec:", "#   kernelspec: [")
    manifest = text_workflow(project, "fit.py", broken)

    assert main(["validate", str(manifest)]) == 2

    err = capsys.readouterr().out
    assert "steps[0] (fit).notebook: invalid notebook: " in err
    assert "fit.py: jupytext cannot read it (" in err
    assert "Traceback" not in err


def test_a_stale_injected_cell_in_a_text_notebook_is_warned_about_at_its_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = PERCENT.replace(
        "# %%\nimport", '# %% tags=["injected-parameters"]\ndepth = 9\n\n# %%\nimport'
    )
    manifest = text_workflow(project, "fit.py", stale)

    assert main(["validate", str(manifest)]) == 0

    err = capsys.readouterr().err
    line = stale.splitlines().index("depth = 9") + 1
    assert (
        f"keeps an injected-parameters cell left by papermill or Ploomber (line {line}: depth = 9)"
        in err
    )


def test_a_text_notebook_counts_by_its_bytes_in_the_fingerprint(project: Path) -> None:
    manifest = text_workflow(project, "fit.py", PERCENT)
    notebook = manifest.parent / "fit.py"
    first = run_workflow(load_manifest(manifest), RunOptions(jobs=1, cached=True))
    assert notebook_digest(notebook) == file_digest(notebook)

    second = run_workflow(load_manifest(manifest), RunOptions(jobs=1, cached=True))
    notebook.write_text(PERCENT + "# a comment after the last cell\n", encoding="utf-8")
    third = run_workflow(load_manifest(manifest), RunOptions(jobs=1, cached=True))

    assert second.step("fit").status == StepStatus.CACHED
    assert second.step("fit").fingerprint == first.step("fit").fingerprint
    assert third.step("fit").status == StepStatus.SUCCEEDED
    assert third.step("fit").fingerprint != first.step("fit").fingerprint
    assert third.step("summary").status == StepStatus.CACHED  # the same score reached it


def test_changed_runs_the_step_whose_text_notebook_a_commit_changed(
    project_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = text_workflow(project_repo, "fit.py", PERCENT)
    commit_all(project_repo, "workflow")
    assert main(["run", "text"]) == 0
    (manifest.parent / "fit.py").write_text(PERCENT.replace("* 10", "* 100"), encoding="utf-8")
    commit_all(project_repo, "fit scores by 100")
    capsys.readouterr()

    assert main(["affected", "HEAD~1..HEAD"]) == 0
    assert capsys.readouterr().out == "text: fit, summary\n"
    assert main(["run", "--changed", "HEAD~1..HEAD"]) == 0

    _, record = latest_run(project_repo, "text")
    assert record.step("fit").outputs["score"] == 300
    assert record.step("summary").outputs == {"twice": 600}


@pytest.mark.parametrize("form", list(FORMATS))
def test_inject_into_a_text_notebook_run_by_hand_then_remove_leaves_git_diff_clean(
    # the header names an older jupytext than this one: its version is kept
    project_repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    form: str,
) -> None:
    name, text = FORMATS[form]
    manifest = text_workflow(project_repo, name, text)
    commit_all(project_repo, "workflow")
    notebook = manifest.parent / name

    assert main(["inject", "text", "fit"]) == 0

    out, err = capsys.readouterr()
    assert out == f"{notebook}\n" and "warning" not in err
    injected = notebook.read_text(encoding="utf-8")
    assert "injected-parameters" in injected and "depth = 3\n" in injected
    by_hand = tmp_path / "fit.ipynb"  # as an author runs it: jupytext, then papermill
    jupytext.write(jupytext.read(notebook), by_hand)
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(by_hand), str(executed), kernel_name="python3", progress_bar=False
    )
    outputs = read_outputs(json.loads(executed.read_text(encoding="utf-8")))
    assert outputs["score"] == 30

    assert main(["inject", "--remove", "text"]) == 0

    assert capsys.readouterr().out == f"{notebook}\n"
    assert notebook.read_text(encoding="utf-8") == text
    assert git(project_repo, "status", "--porcelain", "--", "workflows") == ""


def test_inject_says_so_when_jupytext_rewrites_a_hand_written_header(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_hand = PERCENT_WITH_HEADER.split("#   kernelspec:")[1]
    manifest = text_workflow(project, "fit.py", "# ---\n# jupyter:\n#   kernelspec:" + by_hand)

    assert main(["inject", "text", "fit"]) == 0

    assert "its layout is not one nbflow can keep; it was rewritten as jupytext writes" in (
        capsys.readouterr().err
    )
    assert "#     text_representation:" in (manifest.parent / "fit.py").read_text(encoding="utf-8")
