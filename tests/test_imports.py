"""The command line stays fast: ``nbflow --help`` and ``nbflow validate`` import none
of the heavy libraries (papermill, Jupyter, nbformat, jsonschema, GitPython,
PyGithub): valid manifests and notebooks are checked with fastjsonschema alone.

Checked in a fresh interpreter, where nothing else has imported them yet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = (
    "papermill",
    "jupyter_client",
    "nbclient",
    "nbformat",
    "jsonschema",
    "git",
    "github",
    "zmq",
    "IPython",
)

PROBE = """
import json, sys
from nbflow.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported_by(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    code, modules = imported_modules(args, cwd)
    return code, {name.partition(".")[0] for name in modules}


def imported_modules(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    """The exit code of ``nbflow ARGS`` in a fresh interpreter, and every module it
    imported (dotted names)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["code"], set(result["modules"])


@pytest.mark.parametrize(
    "args, allowed", [(["--help"], ()), (["validate"], ()), (["run", "--help"], ())]
)
def test_cheap_commands_import_nothing_heavy(
    project: Path, args: list[str], allowed: tuple[str, ...]
) -> None:
    shutil.copytree(
        REPO / "workflows",
        project / "workflows",
        dirs_exist_ok=True,
        # model-grid's steps are text notebooks: reading them needs jupytext (below)
        ignore=shutil.ignore_patterns("data", "__pycache__", ".ipynb_checkpoints", "model-grid"),
    )
    code, modules = imported_by(args, project)
    assert code == 0
    assert "nbflow" in modules
    assert sorted(modules & set(HEAVY)) == list(allowed)


def test_validating_text_notebooks_imports_only_what_jupytext_needs(project: Path) -> None:
    shutil.copytree(REPO / "workflows" / "model-grid", project / "workflows" / "model-grid")
    probe = "import json, sys, jupytext; print(json.dumps(sorted(sys.modules)))"
    jupytext_needs = {
        name.partition(".")[0]
        for name in json.loads(
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, check=True
            ).stdout
        )
    }

    code, modules = imported_by(["validate", "model-grid"], project)

    assert code == 0
    assert "jupytext" in modules
    assert modules & set(HEAVY) <= jupytext_needs
    assert not modules & {"papermill", "nbclient", "git", "github"}


def test_a_cached_rerun_imports_no_event_loop_and_no_round_trip_yaml(project: Path) -> None:
    """A rerun where every step is cached starts no kernel, so it needs no asyncio; a
    plain manifest and nbflow.yaml are read by libyaml (manifest/fast_yaml.py)."""
    from helpers import write_manifest, write_notebook

    folder = project / "workflows" / "cached"
    write_notebook(folder / "a.ipynb", "x = 1", ["y = x"])
    write_manifest(
        folder, "name: cached\ndefaults: {cache: true}\nsteps:\n  - {id: a, notebook: a.ipynb}\n"
    )
    assert imported_by(["run", "cached"], project)[0] == 0

    code, modules = imported_by(["run", "cached"], project)

    assert code == 0
    assert sorted(modules & {"asyncio", "ruamel", "papermill", "jupyter_client", "ssl"}) == []


def test_a_cached_rerun_imports_nbflow_modules_for_features_it_does_not_use(
    project: Path,
) -> None:
    """No step has an ``if:`` condition, the run has no ``--schedule``, and no runs are
    listed: the modules for those are not imported, nor those executing a step
    (engine/step.py, the kernel pool: ~16 ms); nor importlib.resources (with
    zipfile: ~10 ms) to find the manifest's schema file; nor PyYAML (~16 ms): the
    manifest and nbflow.yaml, read by the first run, are read back from the disk
    cache (manifest/fast_yaml.py)."""
    from helpers import write_manifest, write_notebook

    folder = project / "workflows" / "cached"
    write_notebook(folder / "a.ipynb", "x = 1", ["y = x"])
    write_notebook(folder / "b.ipynb", "x = 1", ["y = x"])
    write_manifest(
        folder,
        "name: cached\ndefaults: {cache: true}\n"
        "steps:\n  - {id: a, notebook: a.ipynb}\n  - {id: b, notebook: b.ipynb, needs: [a]}\n",
    )
    assert imported_by(["run", "cached"], project)[0] == 0

    code, modules = imported_modules(["run", "cached"], project)

    assert code == 0
    unused = {"nbflow.manifest.conditions", "nbflow.schedule", "nbflow.run_summary"}
    unused |= {"importlib.resources", "zipfile", "yaml"}
    executing = {"nbflow.engine.step", "nbflow.engine.kernels", "nbflow.engine.kernel"}
    unused |= executing | {"nbflow.engine.forkserver", "nbflow.engine.source", "socket"}
    assert "nbflow.engine.runner" in modules
    assert sorted(modules & unused) == []
