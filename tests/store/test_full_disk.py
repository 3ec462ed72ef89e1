"""A full disk, for real: the project lives on a 2 MB tmpfs that a step fills.

``mount -t tmpfs`` needs root (or CAP_SYS_ADMIN); where it is refused the tests skip,
saying so. A tmpfs gives the real ENOSPC at the real place, which RLIMIT_FSIZE (EFBIG,
per process, SIGXFSZ) and a preloaded write wrapper would only imitate.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import latest_run, write_manifest, write_notebook

from nbflow.cli import main
from nbflow.run_record import RunStatus, StepStatus

# Fills the disk (unless `room` exists), then frees LEFT bytes and prints 300 kB: the
# step's notebook cannot be written, though a run record (a few kB) may still fit.
FILL = (
    "import os, pathlib\n"
    "LEFT = {left}\n"
    "if not pathlib.Path('room').exists():\n"
    "    with open('filler', 'wb') as f:\n"
    "        try:\n"
    "            while True:\n"
    "                f.write(b'0' * 65536)\n"
    "                f.flush()\n"
    "        except OSError as exc:\n"
    "            print('the disk is full:', exc.strerror)\n"
    "    os.truncate('filler', max(0, os.path.getsize('filler') - LEFT))\n"
    "    print('x' * 300_000)"
)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project on a 2 MB tmpfs, made the current folder."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here (needs root): {mounted.stderr.strip()}")
    try:
        root = disk / "proj"
        (root / "workflows").mkdir(parents=True)
        (root / "nbflow.yaml").write_text("", encoding="utf-8")
        monkeypatch.chdir(root)
        yield root
    finally:
        os.chdir(tmp_path)
        subprocess.run(["umount", "-l", str(disk)], check=True)


@pytest.mark.parametrize("left", [0, 64 * 1024], ids=["no room left", "room for the record"])
def test_a_full_disk_stops_the_run_in_one_line_and_resume_finishes_it(
    small_disk: Path, capsys: pytest.CaptureFixture[str], left: int
) -> None:
    folder = small_disk / "workflows" / "full"
    write_notebook(folder / "first.ipynb", None, ["import nbflow\nnbflow.record('n', 1)"])
    write_notebook(folder / "fill.ipynb", None, [FILL.format(left=left)])
    write_notebook(folder / "after.ipynb", None, ["1"])
    write_manifest(
        folder,
        """
        name: full
        steps:
          - {id: first, notebook: first.ipynb}
          - {id: fill, notebook: fill.ipynb}
          - {id: after, notebook: after.ipynb}
        """,
    )

    assert main(["run", "full"]) == 1

    run_dir, record = latest_run(small_disk, "full")
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    last = re.fullmatch(
        r"error: cannot write (\S+): No space left on device; the run stopped; once there "
        rf"is room, finish it with `nbflow run --resume {record.run_id}`",
        err.splitlines()[-1],
    )
    assert last, err  # the file nbflow could not write: its notebook, draft or record
    assert Path(last[1]).is_relative_to(small_disk), last[1]
    first, fill, after = record.steps
    assert first.status == StepStatus.SUCCEEDED
    if record.status == RunStatus.RUNNING:  # not even the final record fitted
        assert not left  # (the scratch papermill wrote into is freed when a step ends)
        assert fill.status in (StepStatus.RUNNING, StepStatus.FAILED)
        assert after.status == StepStatus.PENDING
    else:  # the final record: fill failed for want of room, after never ran
        assert record.status == RunStatus.FAILED
        assert fill.status == StepStatus.FAILED
        assert fill.error is not None and fill.error.ename == "WriteError"
        assert fill.error.evalue == f"cannot write {last[1]}: No space left on device"
        assert after.status == StepStatus.CANCELLED
        assert after.reason == f"the run was stopped: {fill.error.evalue}"
    assert record.step("first").outputs == {"n": 1}
    assert (run_dir / "first.ipynb").is_file()

    (folder / "filler").unlink()
    (folder / "room").touch()
    assert main(["run", "--resume", record.run_id]) == 0

    _, done = latest_run(small_disk, "full")
    assert done.status == RunStatus.SUCCEEDED
    assert [s.status for s in done.steps] == [StepStatus.SUCCEEDED] * 3
    assert done.step("first") == record.step("first")
    assert sorted(p.name for p in run_dir.glob("*.ipynb")) == [
        "after.ipynb",
        "fill.ipynb",
        "first.ipynb",
    ]
