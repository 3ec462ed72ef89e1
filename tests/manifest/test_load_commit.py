"""The manifest's `commit.target`."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_manifest, write_notebook

from nbflow.errors import ManifestError
from nbflow.manifest.load import load_manifest


def manifest(tmp_path: Path, commit: str) -> Path:
    folder = tmp_path / "workflows" / "demo"
    write_notebook(folder / "a.ipynb", "x = 1")
    return write_manifest(folder, f"name: demo\n{commit}steps:\n  - id: a\n    notebook: a.ipynb\n")


def test_commit_target_is_loaded(tmp_path: Path) -> None:
    assert load_manifest(manifest(tmp_path, "commit: {target: runs-branch}\n")).commit_target == (
        "runs-branch"
    )
    assert load_manifest(manifest(tmp_path, "")).commit_target is None


def test_a_bad_commit_target_points_at_its_line(tmp_path: Path) -> None:
    path = manifest(tmp_path, "commit:\n  target: runs_branch\n")

    with pytest.raises(ManifestError) as exc:
        load_manifest(path)

    assert str(exc.value) == (
        f"{path}:3:11: commit.target: unknown value 'runs_branch'; did you mean 'runs-branch'?"
    )
