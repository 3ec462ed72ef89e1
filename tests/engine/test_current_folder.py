"""A run never changes the process's current folder: steps execute on threads of the
process that called nbflow (tests and Python callers call ``main`` in-process), and the
current folder is shared by every thread. papermill's local file handler changes it
around each read and write of a notebook (``chdir(handler._cwd)``, a process-wide
value that overlapping runs leave pointing at an earlier project), so a thread reading
the current folder meanwhile saw another project's folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers import latest_run, write_manifest, write_notebook

from nbflow.cli import main


def test_a_run_of_parallel_steps_never_changes_the_current_folder(
    project: Path, chdirs: Callable[[], list[str]]
) -> None:
    folder = project / "workflows" / "par"
    for name in "abc":
        write_notebook(folder / f"{name}.ipynb", None, ["x = 1", "y = 2"])
    write_manifest(
        folder,
        "name: par\nsteps:\n  - {id: a, notebook: a.ipynb}\n"
        "  - {id: b, notebook: b.ipynb, needs: []}\n"
        "  - {id: c, notebook: c.ipynb, needs: []}\n",
    )

    assert main(["run", "par", "--jobs", "3"]) == 0

    _, record = latest_run(project, "par")
    assert [s.status.value for s in record.steps] == ["succeeded"] * 3
    assert chdirs() == []
    assert Path.cwd() == project


def test_dash_c_changes_the_folder_for_the_command_only(
    project: Path, tmp_path: Path, chdirs: Callable[[], list[str]]
) -> None:
    other = tmp_path / "other"
    (other / "workflows" / "one").mkdir(parents=True)
    (other / "nbflow.yaml").write_text("runs_dir: runs\n", encoding="utf-8")
    write_notebook(other / "workflows" / "one" / "a.ipynb", None, ["1"])
    write_manifest(
        other / "workflows" / "one", "name: one\nsteps:\n  - {id: a, notebook: a.ipynb}\n"
    )

    assert main(["-C", str(other), "run", "one"]) == 0

    assert latest_run(other, "one")[1].status.value == "succeeded"
    assert Path.cwd() == project  # an in-process caller keeps its folder
    assert chdirs() == [str(other), str(project)]
