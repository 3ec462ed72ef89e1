"""The run summary cache (nbflow/git/summary_cache.py): ``nbflow runs``, the
catch-up scan and the history page read summaries through ``.git/nbflow/summaries.json``,
and the cached listing is always the listing of the records themselves — after
runs are added, a record is rewritten in place with the same size, a committed
record changes blob, the cache is damaged or cannot be written, and when a record
is written within the same second as the cache."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from helpers import git, write_run

from nbflow.cli import main
from nbflow.cli.common import EXIT_INVALID
from nbflow.git.commands import Git
from nbflow.git.history import list_runs, list_summaries
from nbflow.git.history_page import committed_tree
from nbflow.project import Project
from nbflow.store.runs import RECORD_FILE

HOUR_AGO = 3600 * 10**9


def listing(repo: Path) -> list[tuple[str, str, str, int, int]]:
    """The cached listing, checked against the records read without the cache."""
    cached = [
        (s.run_id, s.status.value, s.trigger, s.steps, s.succeeded)
        for s in list_summaries(Project(repo))
    ]
    uncached = [
        (r.run_id, r.status.value, r.trigger, len(r.steps)) for r in list_runs(Project(repo))
    ]
    assert [c[:4] for c in cached] == uncached
    return cached


def cache_file(repo: Path) -> Path:
    return repo / ".git" / "nbflow" / "summaries.json"


def age(folder: Path) -> None:
    """The record written an hour ago, so the cache may keep it (not racy)."""
    record = folder / RECORD_FILE
    mtime = record.stat().st_mtime_ns - HOUR_AGO
    os.utime(record, ns=(mtime, mtime))


def rewrite_same_size(folder: Path, old: str, new: str) -> None:
    """``old`` replaced by ``new`` (same length) in the record, in place: same size,
    same inode."""
    record = folder / RECORD_FILE
    text = record.read_text()
    assert len(old) == len(new) and old in text
    with record.open("r+") as handle:
        handle.write(text.replace(old, new))


def committed_history(repo: Path) -> None:
    for n in range(1, 4):
        write_run(repo, f"2026-11-20T000000Z-000{n}")
    git(repo, "add", "-f", "runs")
    git(repo, "commit", "-q", "-m", "runs")
    for n in range(1, 4):  # committed only
        folder = repo / "runs" / "demo" / f"2026-11-20T000000Z-000{n}"
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()


def test_the_cache_is_written_in_the_git_dir_and_lists_what_the_records_do(
    git_repo: Path,
) -> None:
    committed_history(git_repo)
    age(write_run(git_repo, "2026-11-21T000000Z-0004", trigger="schedule")[0])
    first = listing(git_repo)

    cache = json.loads(cache_file(git_repo).read_text())
    assert cache["version"] == 1 and len(cache["blobs"]) == 3 and len(cache["files"]) == 1
    status = git(git_repo, "status", "--porcelain", "--ignored", "--untracked-files=all")
    assert "runs/demo/2026-11-21T000000Z-0004/run.json" in status and "summaries" not in status

    write_run(git_repo, "2026-11-22T000000Z-0005", status="failed")  # a run added
    second = listing(git_repo)
    assert second == [*first, ("2026-11-22T000000Z-0005", "failed", "manual", 2, 1)]


def test_a_listing_read_from_the_cache_alone_lists_the_same(git_repo: Path) -> None:
    committed_history(git_repo)
    age(write_run(git_repo, "2026-11-21T000000Z-0004")[0])
    first = list_summaries(Project(git_repo))
    cache = json.loads(cache_file(git_repo).read_text())
    # Plant other summaries in the cache: the listing now shows them, so it is read.
    for fields in [*cache["blobs"].values(), *(e[1] for e in cache["files"].values())]:
        fields[3] = "planted"
    cache_file(git_repo).write_text(json.dumps(cache))

    assert [s.trigger for s in list_summaries(Project(git_repo))] == ["planted"] * 4
    assert [s.record() for s in list_summaries(Project(git_repo))] == [s.record() for s in first]


def test_a_record_rewritten_in_place_with_the_same_size_is_read_again(git_repo: Path) -> None:
    folder, _ = write_run(git_repo, "2026-11-21T000000Z-0004", trigger="manual")
    age(folder)
    assert [run[2] for run in listing(git_repo)] == ["manual"]

    rewrite_same_size(folder, '"manual"', '"sched1"')

    assert [run[2] for run in listing(git_repo)] == ["sched1"]


def test_a_record_written_in_the_same_second_as_the_cache_is_never_trusted(
    git_repo: Path,
) -> None:
    folder, _ = write_run(git_repo, "2026-11-21T000000Z-0004", trigger="manual")
    record = folder / RECORD_FILE
    before = record.stat()
    assert [run[2] for run in listing(git_repo)] == ["manual"]

    # Rewritten within the same clock tick: size, inode and mtime all unchanged.
    rewrite_same_size(folder, '"manual"', '"sched1"')
    os.utime(record, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert record.stat().st_ino == before.st_ino and record.stat().st_size == before.st_size

    assert [run[2] for run in listing(git_repo)] == ["sched1"]


def test_a_committed_record_that_changes_blob_is_read_again(git_repo: Path) -> None:
    committed_history(git_repo)
    assert [run[1] for run in listing(git_repo)] == ["succeeded"] * 3
    folder, _ = write_run(git_repo, "2026-11-20T000000Z-0002", status="failed")
    git(git_repo, "add", "-f", str(folder))
    git(git_repo, "commit", "-q", "-m", "run 2 failed")
    (folder / RECORD_FILE).unlink()

    assert [run[1] for run in listing(git_repo)] == ["succeeded", "failed", "succeeded"]


@pytest.mark.parametrize(
    "damage",
    [
        "",
        '{"version": 1, "blobs": {"ab',
        "[1, 2]",
        '{"version": 1, "blobs": [], "files": {}}',
        "\0\0\0\0",
        "version-2",
    ],
)
def test_a_damaged_cache_is_ignored_and_rebuilt(git_repo: Path, damage: str) -> None:
    committed_history(git_repo)
    age(write_run(git_repo, "2026-11-21T000000Z-0004")[0])
    first = listing(git_repo)
    cache = cache_file(git_repo)
    if damage == "version-2":
        data = json.loads(cache.read_text())
        for fields in data["blobs"].values():
            fields[3] = "planted"
        cache.write_text(json.dumps({**data, "version": 2}))
    else:
        cache.write_text(damage)

    assert listing(git_repo) == first
    assert json.loads(cache.read_text())["version"] == 1  # rebuilt


def test_damaged_entries_are_read_again(git_repo: Path) -> None:
    committed_history(git_repo)
    age(write_run(git_repo, "2026-11-21T000000Z-0004")[0])
    first = listing(git_repo)
    cache = json.loads(cache_file(git_repo).read_text())
    cache["blobs"] = {blob: fields[:4] for blob, fields in cache["blobs"].items()}
    cache["files"] = {path: [entry[0], {"x": 1}] for path, entry in cache["files"].items()}
    cache_file(git_repo).write_text(json.dumps(cache))

    assert listing(git_repo) == first


@pytest.mark.parametrize("how", ["read-only folder", "file as folder", "folder as cache"])
def test_an_unwritable_cache_is_no_error(git_repo: Path, how: str) -> None:
    committed_history(git_repo)
    age(write_run(git_repo, "2026-11-21T000000Z-0004")[0])
    folder = cache_file(git_repo).parent
    if how == "file as folder":
        folder.write_text("not a folder")
    else:
        folder.mkdir(parents=True)
    if how == "folder as cache":
        cache_file(git_repo).mkdir()
    if how == "read-only folder":
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        if os.access(folder, os.W_OK):
            folder.chmod(stat.S_IRWXU)
            pytest.skip("running as root: a read-only folder is still writable")
    try:
        first = listing(git_repo)
        assert [run[0] for run in first] == [
            *(f"2026-11-20T000000Z-000{n}" for n in range(1, 4)),
            "2026-11-21T000000Z-0004",
        ]
        assert listing(git_repo) == first
    finally:
        if folder.is_dir():
            folder.chmod(stat.S_IRWXU)
    assert not folder.is_dir() or [p.name for p in folder.iterdir()] in ([], ["summaries.json"])


def test_a_damaged_working_tree_record_is_named_and_the_others_listed(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(git_repo, "2026-11-21T000000Z-0004")
    damaged, _ = write_run(git_repo, "2026-11-21T000000Z-0005")
    (damaged / RECORD_FILE).write_text('{"workflow": "de')
    monkeypatch.chdir(git_repo)

    assert main(["runs"]) == 0

    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["2026-11-21T000000Z-0004"]
    assert f"{damaged / RECORD_FILE}: unreadable run record" in err
    assert "fix its JSON" in err and "internal error" not in err
    assert main(["runs", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["2026-11-21T000000Z-0004"]


def test_the_history_page_of_a_run_commit_reads_through_the_cache(git_repo: Path) -> None:
    committed_history(git_repo)
    folder, _ = write_run(git_repo, "2026-11-21T000000Z-0004", status="failed")
    paths = [f"runs/demo/{folder.name}/{p.name}" for p in folder.iterdir()]
    repo = Git(git_repo)
    head = repo.run("rev-parse", "HEAD").strip()

    tree = committed_tree(repo, head, paths, f"runs/demo/{folder.name}")

    blobs = repo.run("ls-tree", "-r", tree, "runs/demo").split("\n")
    records = {line.split()[2] for line in blobs if line.endswith("/run.json")}
    assert set(json.loads(cache_file(git_repo).read_text())["blobs"]) == records
    page = repo.run("show", f"{tree}:runs/demo/README.md")
    assert page.count("| [2026-11-2") == 4 and "Last failure" in page
    cache_file(git_repo).write_text('{"version": 1, "blo')  # damaged: read again
    assert committed_tree(repo, head, paths, f"runs/demo/{folder.name}") == tree
    assert committed_tree(repo, head, paths, f"runs/demo/{folder.name}") == tree  # cached


def test_showing_a_run_whose_record_is_damaged_names_the_file(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged, _ = write_run(git_repo, "2026-11-21T000000Z-0005")
    (damaged / RECORD_FILE).write_text('{"workflow": "de')
    monkeypatch.chdir(git_repo)

    assert main(["show", "2026-11-21T000000Z-0005"]) == EXIT_INVALID

    err = capsys.readouterr().err
    assert f"{damaged / RECORD_FILE}: unreadable run record (JSONDecodeError" in err
    assert "cannot show it; fix its JSON" in err and "internal error" not in err
