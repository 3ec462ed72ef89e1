"""Scratch folders: kept out of TMPDIR and out of commits, removed once their process
is gone (the kill -9 case is in tests/reliability/test_canary.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import git

from nbflow.engine.scratch import remove_stale, scratch_folder, scratch_root


def test_a_live_process_keeps_its_scratch_until_it_ends(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    root = tmp_path / ".git" / "nbflow" / "scratch"

    with scratch_folder(tmp_path) as folder:
        (folder / "draft.ipynb").write_text("{}", encoding="utf-8")
        assert scratch_root(tmp_path) == root.resolve()
        assert remove_stale(root) == []
        assert (folder / "draft.ipynb").is_file()

    assert sorted(p.name for p in root.iterdir()) == [".gitignore"]


def test_the_scratch_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from nbflow.engine.scratch import scratch_folder\n"
        "with scratch_folder(Path(sys.argv[1])) as folder:\n"
        "    (folder / 'draft.ipynb').write_text('{}')\n"
        "    os._exit(0)\n"  # as if killed: nothing cleans up
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    root = scratch_root(tmp_path)
    (left,) = [p.name for p in root.iterdir() if p.is_dir()]

    assert remove_stale(root) == [left]
    assert sorted(p.name for p in root.iterdir()) == [".gitignore"]


def test_outside_git_the_scratch_is_in_the_project_and_ignores_itself(tmp_path: Path) -> None:
    with scratch_folder(tmp_path) as folder:
        (folder / "draft.ipynb").write_text("{}", encoding="utf-8")
        assert folder.parent == tmp_path.resolve() / ".nbflow" / "scratch"
        git(tmp_path, "init", "-q")  # made a repository later: nothing to add
        assert git(tmp_path, "status", "--porcelain", "--untracked-files=all") == ""
