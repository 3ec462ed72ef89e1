"""papermill is imported once per run without the parts nbflow never uses, and the
notebooks it reads and writes are checked with the schema check nbflow compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import write_manifest, write_notebook

REPO = Path(__file__).resolve().parent.parent.parent

# A fresh interpreter runs the workflow, counting fastjsonschema compiles (nbformat's
# validator compiles its own check unless it is given nbflow's) and scans of the
# installed distributions for papermill's plugins.
PROBE = """
import json, sys
import entrypoints, fastjsonschema
compiles, scans = [], []
real = fastjsonschema.compile
fastjsonschema.compile = lambda *a, **k: compiles.append(1) or real(*a, **k)
scan = entrypoints.get_group_all
entrypoints.get_group_all = lambda *a, **k: scans.append(a) or scan(*a, **k)
from nbflow.cli import main
code = main(sys.argv[1:])
hidden = "github" in sys.modules
ipython = "IPython" in sys.modules  # only kernels need it (jupyter_client asked it a path)
import github  # hidden from papermill only while it is imported
print(json.dumps({"code": code, "github_during_run": hidden, "compiles": len(compiles),
                  "plugin_scans": len(scans), "ipython": ipython}))
"""


def test_a_run_imports_and_scans_only_what_it_uses(project: Path) -> None:
    """No PyGithub, no IPython, no scan for papermill plugins in nbflow's process,
    and nbformat's schema check not compiled again."""
    folder = project / "workflows" / "two"
    for name in "ab":
        write_notebook(folder / f"{name}.ipynb", None, ["import nbflow\nnbflow.record('x', 1)"])
    write_manifest(
        folder,
        """
        name: two
        steps:
          - {id: a, notebook: a.ipynb, needs: []}
          - {id: b, notebook: b.ipynb, needs: []}
        """,
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "two", "--jobs", "2"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {
        "code": 0,
        "github_during_run": False,
        "compiles": 0,
        "plugin_scans": 0,
        "ipython": False,
    }


def test_nbformat_checks_papermills_notebooks_with_nbflows_check() -> None:
    import nbformat
    from nbformat.validator import ValidationError, get_validator

    from nbflow.engine.papermill_load import prime_nbformat
    from nbflow.manifest.notebook_file import nbformat_check

    prime_nbformat(4, 4)
    assert get_validator(4, 4)._validator is nbformat_check(4, 4)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    notebook.nbformat_minor = 4
    del notebook.cells[0]["id"]  # ids came with nbformat 4.5
    nbformat.validate(notebook)
    notebook.cells[0]["execution_count"] = "one"
    try:
        nbformat.validate(notebook)
    except ValidationError as exc:  # nbformat's own message, from jsonschema
        assert "'one'" in str(exc)
    else:
        raise AssertionError("an invalid notebook passed nbformat's check")


def test_papermill_writes_the_draft_at_the_end_not_per_cell(tmp_path: Path) -> None:
    """The draft papermill writes is read once, after it returns: a cell sees no draft
    in the step's scratch folder (only the source copy papermill reads)."""
    from nbflow.engine.step import StepTask, execute_step
    from nbflow.run_record import StepStatus

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    look = (
        "import glob, os, nbflow\n"
        "found = glob.glob(os.path.join(os.environ['SCRATCH'], 'nbflow-step-*', '*'))\n"
        "nbflow.record('files', sorted(os.path.basename(p) for p in found))"
    )
    notebook = write_notebook(tmp_path / "nb.ipynb", "x = 1", ["y = x + 1", look, "z = 3"])
    task = StepTask("s", notebook, tmp_path / "out.ipynb", tmp_path, env={"SCRATCH": str(scratch)})
    task = StepTask(**{**task.__dict__, "scratch": scratch})

    result = execute_step(task)

    assert result.status == StepStatus.SUCCEEDED, result.error
    assert result.outputs == {"files": ["source-nb.ipynb"]}
    executed = json.loads(task.output.read_text(encoding="utf-8"))
    assert [c["execution_count"] for c in executed["cells"]] == [1, 2, 3, 4]
