"""The folders of a step's ``produces:`` paths exist before it starts (issue 15, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_manifest, write_notebook

from nbflow.engine.folders import output_folder
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.load import load_manifest
from nbflow.run_record import RunStatus, StepError


@pytest.mark.parametrize(
    ("pattern", "folder"),
    [
        ("out/deep/x.csv", "out/deep"),
        ("x.csv", "."),
        ("out/*.csv", "out"),
        ("out/**/part-*.csv", "out"),
        ("out/day=[0-9]/x.csv", "out"),
        ("*/x.csv", "."),
    ],
)
def test_output_folder_is_the_part_before_the_first_wildcard(pattern: str, folder: str) -> None:
    assert str(output_folder(pattern)) == folder


def _writer(project: Path, produces: str) -> Path:
    folder = project / "workflows" / "files"
    write_notebook(
        folder / "write.ipynb",
        "day = '2026-12-01'",
        [
            "from pathlib import Path",
            "Path(f'out/deep/{day}.csv').write_text('a,b\\n1,2\\n')",
            "Path('parts/2026/p-1.csv').write_text('p\\n')",
        ],
    )
    return write_manifest(
        folder,
        f"""
        name: files
        parameters:
          day: {{type: str, default: "2026-12-01"}}
        steps:
          - id: write
            notebook: write.ipynb
            produces: {produces}
        """,
    )


def test_a_notebook_writes_into_produces_folders_it_did_not_create(project: Path) -> None:
    manifest = _writer(project, '["out/deep/${{ params.day }}.csv", "parts/2026/p-*.csv"]')

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    assert record.status == RunStatus.SUCCEEDED, record.step("write").error
    folder = project / "workflows" / "files"
    assert (folder / "out" / "deep" / "2026-12-01.csv").read_text() == "a,b\n1,2\n"
    assert (folder / "parts" / "2026" / "p-1.csv").read_text() == "p\n"


def test_a_file_in_the_way_of_a_produces_folder_fails_the_step_clearly(project: Path) -> None:
    manifest = _writer(project, '["out/deep/${{ params.day }}.csv", "parts/2026/p-*.csv"]')
    folder = project / "workflows" / "files"
    (folder / "out").write_text("not a folder\n")

    record = run_workflow(load_manifest(manifest), RunOptions(jobs=1))

    assert record.status == RunStatus.FAILED
    assert record.step("write").error == StepError(
        "NotADirectoryError",
        f"produces: out/deep/2026-12-01.csv: cannot create the folder 'out/deep' in {folder} "
        "(Not a directory); move what is in the way",
        None,
    )
