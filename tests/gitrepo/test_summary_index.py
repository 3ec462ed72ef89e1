"""The committed summary index ``runs/<wf>/summaries.jsonl`` (nbflow/git/summary_index.py):
written with the history page at each run commit and replay, read by a fresh clone
(no summary cache) instead of every record, and never trusted beyond what it can
prove: a line whose blob id or check does not match is ignored and its record read,
a damaged index is ignored, a merge or a replay leaves the index a full scan gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import configure_git
from helpers import git, write_run

from nbflow.git.commands import Git
from nbflow.git.history import list_runs, list_summaries
from nbflow.git.repo import commit_run
from nbflow.git.summary_index import HEADER, line, parse
from nbflow.project import Project
from nbflow.run_summary import RunSummary

RUNS = ["2026-11-23T000000Z-0001", "2026-11-23T000100Z-0002", "2026-11-23T000200Z-0003"]
INDEX = "runs/demo/summaries.jsonl"


def summaries(repo: Path, **kwargs: object) -> list[tuple[str, str, str, int, int]]:
    """The listing of ``nbflow runs`` with no summary cache (as in a fresh clone)."""
    shutil.rmtree(repo / ".git" / "nbflow", ignore_errors=True)
    return [
        (s.run_id, s.status.value, s.trigger, s.steps, s.succeeded)
        for s in list_summaries(Project(repo), **kwargs)  # type: ignore[arg-type]
    ]


def listing(repo: Path, **kwargs: object) -> list[tuple[str, str, str, int, int]]:
    """:func:`summaries`, checked against the records read in full."""
    found = summaries(repo, **kwargs)
    records = list_runs(Project(repo), **kwargs)  # type: ignore[arg-type]
    assert [s[:4] for s in found] == [
        (r.run_id, r.status.value, r.trigger, len(r.steps)) for r in records
    ]
    return found


def commit_runs(repo: Path, run_ids: list[str], push: bool = True) -> None:
    for run_id in run_ids:
        folder, record = write_run(
            repo, run_id, status="failed" if run_id[-1] == "2" else "succeeded"
        )
        commit_run(Project(repo), folder, record, target="current", push=push)


def fresh_clone(origin: Path, path: Path) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(path))
    configure_git(path)
    return path


def full_scan(repo: Path, rev: str = "HEAD") -> list[str]:
    """The index lines of every record under runs/demo at ``rev``, each record read."""
    out = git(repo, "ls-tree", "-r", rev, "--", "runs/demo/")
    lines = []
    for entry in out.splitlines():
        meta, path = entry.split("\t")
        if path.endswith("/run.json"):
            blob = meta.split()[2]
            summary = RunSummary.from_json(json.loads(git(repo, "cat-file", "blob", blob)))
            lines.append(line(blob, summary.fields()))
    return lines


def committed_index(repo: Path, rev: str = "HEAD") -> list[str]:
    text = git(repo, "show", f"{rev}:{INDEX}")
    assert text.splitlines()[0] == HEADER
    return text.splitlines()[1:]


def commit_index(repo: Path, text: str, message: str = "edit the index") -> None:
    (repo / INDEX).write_text(text, encoding="utf-8")
    git(repo, "add", INDEX)
    git(repo, "commit", "-q", "-m", message)


def test_each_run_commit_writes_the_index_a_full_scan_gives(git_repo: Path) -> None:
    commit_runs(git_repo, RUNS)

    assert committed_index(git_repo) == full_scan(git_repo)
    assert len(full_scan(git_repo)) == 3
    assert (git_repo / INDEX).read_text() == git(git_repo, "show", f"HEAD:{INDEX}") + "\n"
    assert git(git_repo, "status", "--porcelain") == ""


def test_a_fresh_clone_lists_the_runs_of_the_original_from_the_index(
    git_repo: Path, tmp_path: Path
) -> None:
    commit_runs(git_repo, RUNS)
    original = listing(git_repo)
    clone = fresh_clone(git_repo.parent / "origin.git", tmp_path / "clone")
    assert not (clone / ".git" / "nbflow").exists()

    assert listing(clone) == original  # the working tree's records, tracked
    assert listing(clone, branches=["main"]) == original  # committed only

    # The listing came from the index: an entry planted with a check that holds
    # (trusted, as documented: the index is as trustworthy as the records beside it).
    lines = committed_index(clone)
    blob, *fields, _ = json.loads(lines[0])
    fields[3] = "planted"  # the trigger
    commit_index(clone, "\n".join([HEADER, line(blob, fields), *lines[1:]]) + "\n")
    assert [s[2] for s in summaries(clone)] == ["planted", "manual", "manual"]


def test_a_hand_edited_or_stale_index_line_is_ignored_and_its_record_read(
    git_repo: Path, tmp_path: Path
) -> None:
    commit_runs(git_repo, RUNS)
    clone = fresh_clone(git_repo.parent / "origin.git", tmp_path / "clone")
    lines = committed_index(clone)
    assert '"succeeded"' in lines[0]
    edited = lines[0].replace('"succeeded"', '"cancelled"')  # by hand: the check fails
    commit_index(clone, "\n".join([HEADER, edited, *lines[1:]]) + "\n")
    record = clone / "runs" / "demo" / RUNS[2] / "run.json"  # stale: its blob changed
    record.write_text(record.read_text().replace('"manual"', '"edited"'))
    git(clone, "commit", "-q", "-am", "edit a record by hand")

    for kwargs in ({}, {"branches": ["main"]}):
        assert [(s[1], s[2]) for s in listing(clone, **kwargs)] == [
            ("succeeded", "manual"),
            ("failed", "manual"),
            ("succeeded", "edited"),
        ]


def test_a_record_changed_in_the_working_tree_is_read_not_taken_from_the_index(
    git_repo: Path, tmp_path: Path
) -> None:
    """Within the same second as the checkout, with the same size: git's stat check
    cannot tell, ``git ls-files -m`` compares the content."""
    commit_runs(git_repo, RUNS)
    clone = fresh_clone(git_repo.parent / "origin.git", tmp_path / "clone")
    record = clone / "runs" / "demo" / RUNS[0] / "run.json"
    text = record.read_text()
    with record.open("r+") as handle:  # same size, same inode
        handle.write(text.replace('"manual"', '"MANUAL"'))

    assert [s[2] for s in listing(clone)] == ["MANUAL", "manual", "manual"]


@pytest.mark.parametrize(
    "damage",
    [
        "",
        "not an index\n",
        "{truncated",
        HEADER.replace('"version": 1', '"version": 2') + "\n{lines}",
        "{header}\n<<<<<<< HEAD\n{real}\n=======\n{real}\n>>>>>>> other\n",
        "{header}\n{cut}",
        "\0\xff binary",
    ],
    ids=["empty", "text", "truncated", "version-2", "conflict", "cut-line", "binary"],
)
def test_a_damaged_index_is_ignored(git_repo: Path, damage: str) -> None:
    commit_runs(git_repo, RUNS)
    expected = listing(git_repo)
    lines = [li.replace('"manual"', '"planted"') for li in committed_index(git_repo)]
    forged = [line(json.loads(li)[0], json.loads(li)[1:-1]) for li in lines]
    cut = forged[0][: len(forged[0]) // 2]
    text = damage.replace("{header}", HEADER).replace("{lines}", "\n".join(forged))
    text = text.replace("{real}", "\n".join(committed_index(git_repo)))
    commit_index(git_repo, text.replace("{cut}", cut))

    assert listing(git_repo) == expected
    assert listing(git_repo, branches=["main"]) == expected


def test_an_index_that_is_a_folder_is_ignored(git_repo: Path) -> None:
    commit_runs(git_repo, RUNS)
    expected = listing(git_repo)
    git(git_repo, "rm", "-q", INDEX)
    (git_repo / INDEX).mkdir()
    (git_repo / INDEX / "x").write_text("x\n")
    git(git_repo, "add", INDEX)
    git(git_repo, "commit", "-q", "-m", "a folder")

    assert listing(git_repo) == expected
    assert listing(git_repo, branches=["main"]) == expected


def test_a_replayed_push_leaves_the_index_a_full_scan_gives(git_repo: Path, tmp_path: Path) -> None:
    origin = git_repo.parent / "origin.git"
    other = fresh_clone(origin, tmp_path / "other")
    commit_runs(git_repo, RUNS[:1])
    commit_runs(other, RUNS[1:2])  # rejected, replayed on the tip holding RUNS[0]

    assert len(full_scan(origin, "main")) == 2
    assert committed_index(origin, "main") == full_scan(origin, "main")
    assert [s[0] for s in listing(other)] == RUNS[:2]  # the branch followed the replay


def test_after_a_merge_the_listing_is_right_and_the_next_run_commit_mends_the_index(
    git_repo: Path,
) -> None:
    commit_runs(git_repo, RUNS[:1], push=False)
    git(git_repo, "checkout", "-q", "-b", "side")
    commit_runs(git_repo, RUNS[1:2], push=False)
    git(git_repo, "checkout", "-q", "main")
    commit_runs(git_repo, RUNS[2:3], push=False)
    merge = Git(git_repo).try_run("merge", "-q", "--no-edit", "side")
    assert merge is not None  # the page and the index conflict: both sides add a run
    git(git_repo, "checkout", "--ours", "--", "runs/demo/README.md", "runs/demo/durations.svg")
    git(git_repo, "add", "runs/demo")  # the index committed with its conflict markers
    git(git_repo, "commit", "-q", "--no-edit")
    assert "<<<<<<<" in git(git_repo, "show", f"HEAD:{INDEX}")
    assert [s[0] for s in listing(git_repo)] == RUNS
    assert [s[0] for s in listing(git_repo, branches=["main"])] == RUNS

    commit_runs(git_repo, ["2026-11-23T000300Z-0004"], push=False)

    assert committed_index(git_repo) == full_scan(git_repo)
    assert len(full_scan(git_repo)) == 4


def test_the_index_holds_the_summary_fields_and_nothing_else_of_a_record(
    git_repo: Path,
) -> None:
    """A value elsewhere in a record (a step's error, its outputs) never reaches the
    index: it holds what the run summaries hold."""
    folder, record = write_run(git_repo, RUNS[0])
    data = json.loads((folder / "run.json").read_text())
    data["steps"][1].update(error="canary-7d1f in a traceback", outputs={"k": "canary-7d1f"})
    (folder / "run.json").write_text(json.dumps(data, indent=2) + "\n")
    commit_run(Project(git_repo), folder, record, target="current", push=False)

    text = git(git_repo, "show", f"HEAD:{INDEX}")
    assert "canary-7d1f" in git(git_repo, "show", f"HEAD:runs/demo/{RUNS[0]}/run.json")
    assert "canary-7d1f" not in text
    [entry] = parse((text + "\n").encode()).values()
    summary = RunSummary.from_json(data)
    assert entry[0] == summary.fields()


def test_a_run_commit_in_a_fresh_clone_takes_the_other_runs_from_the_index(
    git_repo: Path, tmp_path: Path
) -> None:
    commit_runs(git_repo, RUNS[:2])
    clone = fresh_clone(git_repo.parent / "origin.git", tmp_path / "clone")
    lines = committed_index(clone)
    blob, *fields, _ = json.loads(lines[0])
    fields[3] = "planted"  # a line whose check holds is taken as it is, not read again
    commit_index(clone, "\n".join([HEADER, line(blob, fields), *lines[1:]]) + "\n")
    shutil.rmtree(clone / ".git" / "nbflow", ignore_errors=True)

    commit_runs(clone, RUNS[2:], push=False)

    new = committed_index(clone)
    assert new[0] == line(blob, fields) and new[1:] == full_scan(clone)[1:]
    assert len(new) == 3


def test_records_the_index_leaves_out_are_read_and_many_of_them_cached(git_repo: Path) -> None:
    """Runs committed without nbflow (so not in the index): a few are read each time,
    more than FEW go through the summary cache, and the listing is right either way."""
    from nbflow.git.summary_cache import FEW

    commit_runs(git_repo, RUNS, push=False)
    others = [f"2026-11-24T{n // 60:02d}{n % 60:02d}00Z-{n:04x}" for n in range(FEW + 2)]
    for run_id in others[:2]:
        write_run(git_repo, run_id)
    git(git_repo, "add", "runs")
    git(git_repo, "commit", "-q", "-m", "two runs by hand")
    cache = git_repo / ".git" / "nbflow" / "summaries.json"

    assert [s[0] for s in listing(git_repo, branches=["main"])] == RUNS + others[:2]
    assert not cache.exists()  # two left out: read, not cached

    for run_id in others[2:]:
        write_run(git_repo, run_id)
    git(git_repo, "add", "runs")
    git(git_repo, "commit", "-q", "-m", "more runs by hand")

    assert [s[0] for s in listing(git_repo, branches=["main"])] == RUNS + others
    assert len(json.loads(cache.read_text())["blobs"]) == FEW + 2


def test_a_project_in_a_subfolder_of_the_repository_lists_from_its_index(
    git_repo: Path, tmp_path: Path
) -> None:
    project = git_repo / "sub"
    project.mkdir()
    (project / "nbflow.yaml").write_text("runs_dir: history\n")
    git(git_repo, "add", "sub")
    git(git_repo, "commit", "-q", "-m", "a project in sub/")
    git(git_repo, "push", "-q")
    for run_id in RUNS:
        folder, record = write_run(project, run_id)
        target = project / "history" / "demo" / run_id
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
        commit_run(Project(project), target, record, target="current", push=True)
    clone = fresh_clone(git_repo.parent / "origin.git", tmp_path / "clone")
    index = git(clone, "show", "HEAD:sub/history/demo/summaries.jsonl").splitlines()
    blob, *fields, _ = json.loads(index[1])
    fields[3] = "planted"  # shows the listing below reads the index
    (clone / "sub/history/demo/summaries.jsonl").write_text(
        "\n".join([HEADER, line(blob, fields), *index[2:]]) + "\n"
    )
    git(clone, "commit", "-q", "-am", "plant")

    assert [s[2] for s in summaries(clone / "sub")] == ["planted", "manual", "manual"]
