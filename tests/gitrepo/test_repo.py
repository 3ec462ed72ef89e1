"""Committing runs back: real git, temporary repositories and a bare ``origin``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import configure_git
from helpers import assert_no_canary, commit_all, git, write_manifest, write_notebook, write_run

from nbflow.cli import main
from nbflow.errors import StoreError, UnpublishedCommitsError, UsageError
from nbflow.git import index_lock, lookups
from nbflow.git.commands import Git
from nbflow.git.history import iter_committed_records
from nbflow.git.repo import commit_run
from nbflow.project import Project

RUN_1 = "2026-11-23T000000Z-ab12"
RUN_2 = "2026-11-23T000100Z-cd34"
CANARY = "Cn4ry+T0k/n@x9Q=zz7W"


def run_files(repo: Path, rev: str = "HEAD") -> list[str]:
    """The files of the run folder a commit changed; the workflow's history page beside
    it (tests/schedule/test_history_page.py) left out."""
    from nbflow.store.runs import RUN_ID_PATTERN

    changed = git(repo, "show", "--name-only", "--format=", rev).splitlines()
    return [p for p in changed if "/" in p and RUN_ID_PATTERN.match(p.split("/")[-2])]


def clone(origin: Path, path: Path) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(path))
    configure_git(path)
    return path


# --------------------------------------------------------------------------- current branch


def test_commit_push_lands_only_the_run_folder(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = git_repo / "workflows" / "demo"
    write_notebook(workflow / "a.ipynb", "x = 1", ["print(x)"])
    write_manifest(workflow, "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n")
    (git_repo / "staged.txt").write_text("old\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "add demo")
    git(git_repo, "push", "-q")
    (git_repo / "staged.txt").write_text("staged change\n")
    git(git_repo, "add", "staged.txt")
    (git_repo / "README.md").write_text("# unstaged change\n")
    before = git(git_repo, "status", "--porcelain")
    assert before == " M README.md\nM  staged.txt"
    monkeypatch.chdir(git_repo)

    assert main(["run", "demo", "--commit", "--push"]) == 0

    run_id = Path(capsys.readouterr().out.strip()).name
    assert git(git_repo, "status", "--porcelain") == before
    assert git(git_repo, "diff", "--cached", "--name-only") == "staged.txt"
    assert git(git_repo, "diff", "staged.txt") == ""
    folder = f"runs/demo/{run_id}"
    assert run_files(git_repo) == [f"{folder}/README.md", f"{folder}/a.ipynb", f"{folder}/run.json"]
    assert git(git_repo, "log", "-1", "--format=%s") == (
        f"nbflow: demo succeeded (1/1 steps) run {run_id}"
    )
    assert git(git_repo, "rev-parse", "origin/main") == git(git_repo, "rev-parse", "HEAD")
    assert git(git_repo.parent / "origin.git", "rev-parse", "main") == git(
        git_repo, "rev-parse", "HEAD"
    )


def test_trailers_are_found_by_log_grep(git_repo: Path) -> None:
    folder, record = write_run(git_repo, RUN_1, status="failed", trigger="schedule")

    result = commit_run(Project(git_repo), folder, record, target="current", push=False)

    assert result.pushed is False and result.branch == "main"
    assert git(git_repo, "log", "--grep", "Nbflow-Workflow: demo", "--format=%H") == result.sha
    assert git(git_repo, "log", "--grep", f"Nbflow-Run: {RUN_1}", "--format=%H") == result.sha
    assert git(git_repo, "log", "-1", "--format=%B") == (
        f"nbflow: demo failed (1/2 steps) run {RUN_1}\n\n"
        "Executed notebooks, run record (run.json) and report (README.md) of this run.\n\n"
        "Nbflow-Workflow: demo\n"
        f"Nbflow-Run: {RUN_1}\n"
        "Nbflow-Status: failed\n"
        "Nbflow-Trigger: schedule\n"
        f"Nbflow-Logical-Time: {record.start}"
    )
    status = git(git_repo, "log", "-1", "--format=%(trailers:key=Nbflow-Status,valueonly)")
    assert status == "failed"
    assert git(git_repo, "status", "--porcelain") == ""


def test_index_lock_held_gives_a_clear_message(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_lock, "LOCK_WAIT", 0.2)
    folder, record = write_run(git_repo, RUN_1)
    lock = git_repo / ".git" / "index.lock"
    lock.write_text("")
    head = git(git_repo, "rev-parse", "HEAD")

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target="current", push=False)

    assert str(exc.value) == (
        f"cannot commit the run: {lock} exists, so another git process is using this "
        "repository (or one crashed and left the file behind); wait for it to finish, or "
        f"delete {lock} if no git process is running, then commit the run with "
        f"`nbflow commit {RUN_1}`"
    )
    assert git(git_repo, "rev-parse", "HEAD") == head
    lock.unlink()
    assert commit_run(Project(git_repo), folder, record, target="current", push=False).sha


@pytest.mark.parametrize(
    ("target", "ref"), [("current", "main"), ("pr", f"nbflow/demo/{RUN_1}")], ids=["current", "pr"]
)
def test_a_branch_lock_left_behind_gives_a_clear_message(
    git_repo: Path, target: str, ref: str
) -> None:
    """A crashed git leaves ``refs/heads/<branch>.lock``: moving the branch fails with
    "cannot lock ref" on every attempt (the current branch: ten, with waits between;
    a pr branch: one), then nbflow names the file and leaves everything as it was."""
    folder, record = write_run(git_repo, RUN_1)
    lock = git_repo / ".git" / "refs" / "heads" / f"{ref}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    head = git(git_repo, "rev-parse", "HEAD")

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target=target, push=False)

    assert str(exc.value) == (
        f"cannot commit the run: {lock} exists, so another git process is using this "
        "repository (or one crashed and left the file behind); wait for it to finish, or "
        f"delete {lock} if no git process is running, then commit the run with "
        f"`nbflow commit {RUN_1}`"
    )
    assert (git(git_repo, "rev-parse", "HEAD"), git(git_repo, "status", "--porcelain")) == (
        head,
        "?? runs/",
    )


def test_an_index_that_cannot_be_replaced_after_the_commit_names_the_fix(git_repo: Path) -> None:
    """The branch moved, then putting the prepared index in place failed (here a git
    hook run when the branch moves turns the index into a folder): the run is
    committed, and the error says so and how to bring the index back."""
    hook = git_repo / ".git" / "hooks" / "reference-transaction"
    hook.write_text(
        '#!/bin/sh\n[ "$1" = committed ] && rm .git/index && mkdir -p .git/index/x\nexit 0\n'
    )
    hook.chmod(0o755)
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target="current", push=False)

    sha = git(git_repo, "rev-parse", "HEAD")
    assert str(exc.value) == (
        f"the run is committed as {sha[:12]} on main, but the index could not be updated "
        f"(Is a directory: {git_repo / '.git' / 'index.lock'}), so `git status` shows the "
        f"run's files as deleted; run `git reset -q -- runs/demo/{RUN_1}` to fix it"
    )
    assert f"runs/demo/{RUN_1}/run.json" in run_files(git_repo)


def test_commit_failure_exits_1_and_keeps_the_run(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = git_repo / "workflows" / "demo"
    write_notebook(workflow / "a.ipynb", "x = 1")
    write_manifest(workflow, "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n")
    (git_repo / ".git" / "index.lock").write_text("")
    monkeypatch.setattr(index_lock, "LOCK_WAIT", 0.2)
    monkeypatch.chdir(git_repo)

    assert main(["run", "demo", "--commit"]) == 1

    out, err = capsys.readouterr()
    assert Path(out.strip(), "a.ipynb").is_file()
    assert "error: cannot commit the run: " in err and "index.lock exists" in err
    assert git(git_repo, "log", "--format=%s") == "initial commit"


def test_an_index_that_cannot_be_read_exits_1_naming_it_and_the_fix(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``.git/index`` cannot be read (here it is a folder): committing the run stops
    with exit 1 and a message naming the file, what is wrong and how to rebuild it, not
    a traceback; nothing is committed and no lock file is left."""
    write_run(git_repo, RUN_1)
    index = git_repo / ".git" / "index"
    index.unlink()
    index.mkdir()
    monkeypatch.chdir(git_repo)

    assert main(["commit", RUN_1]) == 1

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err == (
        f"error: cannot commit the run: git's index {index} cannot be read (Is a directory); "
        f"move it away (`mv {index} {index}.broken`), then run `git reset -q` to rebuild it "
        "from HEAD (changes you had staged are unstaged, your files stay), then commit the "
        f"run with `nbflow commit {RUN_1}`\n"
    )
    assert git(git_repo, "log", "--format=%s") == "initial commit"
    assert not (git_repo / ".git" / "index.lock").exists()


def test_a_run_commit_changing_files_outside_its_folder_is_refused(git_repo: Path) -> None:
    """The last check before a run commit is made (a bug in nbflow if it fires): only
    the run folder and the files named beside it may change; at most five others are
    named."""
    repo, parent = Git.open(git_repo), git(git_repo, "rev-parse", "HEAD")
    folder = f"runs/demo/{RUN_1}"
    write_run(git_repo, RUN_1)
    (git_repo / "runs" / "demo" / "README.md").write_text("# page\n")
    git(git_repo, "add", "-A")
    run_only = git(git_repo, "write-tree")
    for name in ("README.md", "a", "b", "c", "d", "e"):
        (git_repo / name).write_text("changed\n")
    git(git_repo, "add", "-A")
    more = git(git_repo, "write-tree")

    repo.check_only_folder(parent, run_only, folder, ["runs/demo/README.md"])
    with pytest.raises(StoreError) as exc:
        repo.check_only_folder(parent, run_only, folder)
    with pytest.raises(StoreError) as first:
        repo.check_only_folder(None, more, folder, ["runs/demo/README.md"])

    assert str(exc.value) == (
        "internal error: the run commit would change runs/demo/README.md outside "
        f"{folder}; nothing was committed"
    )
    assert str(first.value) == (
        "internal error: the run commit would change README.md, a, b, c, d outside "
        f"{folder}; nothing was committed"
    )


def test_detached_head_is_refused_for_the_current_branch(git_repo: Path) -> None:
    git(git_repo, "checkout", "-q", "--detach")
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(StoreError, match="HEAD is detached; check out a branch, or use"):
        commit_run(Project(git_repo), folder, record, target="current", push=False)


def test_ignored_run_folders_and_notebooks_are_committed(git_repo: Path) -> None:
    (git_repo / ".gitignore").write_text("runs/\n*.ipynb\n")
    commit_all(git_repo, "ignore runs and notebooks")
    folder, record = write_run(git_repo, RUN_1)

    commit_run(Project(git_repo), folder, record, target="current", push=False)

    assert run_files(git_repo) == [
        f"runs/demo/{RUN_1}/README.md",
        f"runs/demo/{RUN_1}/a.ipynb",
        f"runs/demo/{RUN_1}/b.ipynb",
        f"runs/demo/{RUN_1}/run.json",
    ]
    assert git(git_repo, "status", "--porcelain", "--ignored") == ""


def test_files_a_notebook_writes_into_its_run_folder_are_not_committed(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = git_repo / "workflows" / "demo"
    write_notebook(
        workflow / "a.ipynb",
        None,
        [
            "import os, nbflow\n"
            "folder = os.path.join('..', '..', 'runs', 'demo', os.environ['NBFLOW_RUN_ID'])\n"
            "with open(os.path.join(folder, 'debug.log'), 'w') as f:\n"
            "    f.write('key=' + nbflow.secret('API_KEY'))\n"
            "with open(os.path.join(folder, 'big.bin'), 'wb') as f:\n"
            "    f.truncate(60_000_000)"
        ],
    )
    write_manifest(
        workflow, "name: demo\nsecrets: [API_KEY]\nsteps:\n  - id: a\n    notebook: a.ipynb\n"
    )
    commit_all(git_repo, "add demo")
    git(git_repo, "push", "-q")
    monkeypatch.setenv("API_KEY", CANARY)
    monkeypatch.chdir(git_repo)

    assert main(["run", "demo", "--push"]) == 0

    out, err = capsys.readouterr()
    folder = Path(out.strip())
    name = f"runs/demo/{folder.name}"
    assert run_files(git_repo) == [f"{name}/README.md", f"{name}/a.ipynb", f"{name}/run.json"]
    assert (
        f"WARNING nbflow.git.repo: not committed: big.bin, debug.log in {name}: nbflow "
        "commits only the run record, the report and the executed notebooks (see "
        "docs/security.md)"
    ) in err.splitlines()
    assert (folder / "debug.log").read_text() == f"key={CANARY}"  # the notebook's own file
    for where in (git_repo, git_repo.parent / "origin.git"):
        history = git(where, "log", "-p", "--all", "--binary")
        assert_no_canary(history, CANARY)
        sizes = git(where, "cat-file", "--batch-all-objects", "--batch-check=%(objectsize)")
        assert max(int(size) for size in sizes.split()) < 1_000_000


# --------------------------------------------------------------------------- runs branch


def test_runs_branch_leaves_the_checkout_untouched(git_repo: Path) -> None:
    (git_repo / "README.md").write_text("# unstaged\n")
    (git_repo / "new.txt").write_text("staged\n")
    git(git_repo, "add", "new.txt")
    state = [
        git(git_repo, *args)
        for args in (
            ("rev-parse", "HEAD"),
            ("symbolic-ref", "HEAD"),
            ("ls-files", "--stage"),
            ("status", "--porcelain"),
        )
    ]
    folder, record = write_run(git_repo, RUN_1)

    first = commit_run(Project(git_repo), folder, record, target="runs-branch", push=True)
    folder2, record2 = write_run(git_repo, RUN_2)
    second = commit_run(Project(git_repo), folder2, record2, target="runs-branch", push=True)

    assert (first.branch, first.pushed) == ("nbflow/runs", True)
    assert git(git_repo, "rev-list", "--parents", "nbflow/runs").splitlines() == [
        f"{second.sha} {first.sha}",
        first.sha,  # an orphan branch: no parent
    ]
    assert git(git_repo, "ls-tree", "-r", "--name-only", "nbflow/runs").splitlines() == [
        f"runs/demo/{RUN_1}/README.md",
        f"runs/demo/{RUN_1}/a.ipynb",
        f"runs/demo/{RUN_1}/b.ipynb",
        f"runs/demo/{RUN_1}/run.json",
        f"runs/demo/{RUN_2}/README.md",
        f"runs/demo/{RUN_2}/a.ipynb",
        f"runs/demo/{RUN_2}/b.ipynb",
        f"runs/demo/{RUN_2}/run.json",
        "runs/demo/README.md",  # the workflow's history page, on the runs branch too
        "runs/demo/durations.svg",
        "runs/demo/summaries.jsonl",  # and its summary index
    ]
    assert git(git_repo.parent / "origin.git", "rev-parse", "nbflow/runs") == second.sha
    status = state[3] + "\n?? runs/"
    assert [
        git(git_repo, "rev-parse", "HEAD"),
        git(git_repo, "symbolic-ref", "HEAD"),
        git(git_repo, "ls-files", "--stage"),
        git(git_repo, "status", "--porcelain"),
    ] == [*state[:3], status]
    assert folder.is_dir()  # the run folder stays in the working tree, untracked


def test_runs_branch_in_a_fresh_clone_builds_on_the_remote_branch(
    git_repo: Path, tmp_path: Path
) -> None:
    folder, record = write_run(git_repo, RUN_1)
    first = commit_run(Project(git_repo), folder, record, target="runs-branch", push=True)
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    folder2, record2 = write_run(other, RUN_2)

    second = commit_run(Project(other), folder2, record2, target="runs-branch", push=True)

    assert git(other, "rev-parse", f"{second.sha}^") == first.sha


# --------------------------------------------------------------------------- pull-request branch


def test_a_pr_branch_created_meanwhile_is_left_to_whoever_created_it(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's pull-request branch appears between nbflow reading it (missing) and
    creating it (here made by git just before nbflow writes its commit): nbflow does not
    try again on a value it read before; it stops, saying the branch exists already."""
    branch = f"nbflow/demo/{RUN_1}"
    real_commit_tree = Git.commit_tree

    def the_branch_appears_first(self: Git, *args: Any, **kwargs: Any) -> str:
        git(git_repo, "branch", "-q", branch, "HEAD")
        return real_commit_tree(self, *args, **kwargs)

    monkeypatch.setattr(Git, "commit_tree", the_branch_appears_first)
    head = git(git_repo, "rev-parse", "HEAD")
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target="pr", push=False)

    assert str(exc.value) == (
        f"cannot commit the run: refs/heads/{branch} exists already; nothing was committed"
    )
    assert git(git_repo, "rev-parse", branch) == head


def test_pr_target_pushes_a_new_branch_without_switching(git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    folder, record = write_run(git_repo, RUN_1)

    result = commit_run(Project(git_repo), folder, record, target="pr", push=True)

    assert (result.branch, result.pushed) == (f"nbflow/demo/{RUN_1}", True)
    assert git(git_repo, "rev-parse", f"{result.sha}^") == head
    assert git(git_repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(git_repo, "rev-parse", "HEAD") == head
    assert git(git_repo.parent / "origin.git", "rev-parse", result.branch) == result.sha
    assert len(run_files(git_repo, result.sha)) == 4


# --------------------------------------------------------------------------- pushing


@pytest.mark.parametrize("target", ["current", "runs-branch"])
def test_a_rejected_push_is_replayed_on_the_new_tip(
    git_repo: Path, tmp_path: Path, target: str
) -> None:
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    if target == "runs-branch":  # both clones know the runs branch already
        folder0, record0 = write_run(git_repo, "2026-11-22T000000Z-0000")
        commit_run(Project(git_repo), folder0, record0, target=target, push=True)
        git(other, "fetch", "-q", "origin", "nbflow/runs:nbflow/runs")
    folder1, record1 = write_run(git_repo, RUN_1)
    first = commit_run(Project(git_repo), folder1, record1, target=target, push=True)
    folder2, record2 = write_run(other, RUN_2)

    second = commit_run(Project(other), folder2, record2, target=target, push=True)

    assert git(other, "rev-parse", f"{second.sha}^") == first.sha
    assert git(other, "rev-parse", second.branch) == second.sha
    assert git(other, "status", "--porcelain") == ("" if target == "current" else "?? runs/")
    assert git(git_repo.parent / "origin.git", "rev-parse", second.branch) == second.sha


def test_a_replayed_run_leaves_branch_and_index_together_when_the_branch_cannot_follow(
    git_repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    hook = other / ".git" / "hooks" / "reference-transaction"
    hook.write_text(  # main may move once (the local run commit), not a second time
        "#!/bin/sh\n"
        '[ "$1" = prepared ] || exit 0\n'
        "while read -r old new ref; do\n"
        '  [ "$ref" = refs/heads/main ] || continue\n'
        "  [ -e .git/moved-once ] && exit 1\n"
        "  : > .git/moved-once\n"
        "done\n"
    )
    hook.chmod(0o755)
    folder1, record1 = write_run(git_repo, RUN_1)
    commit_run(Project(git_repo), folder1, record1, target="current", push=True)
    folder2, record2 = write_run(other, RUN_2)

    with caplog.at_level(logging.WARNING, logger="nbflow.git.repo"):
        result = commit_run(Project(other), folder2, record2, target="current", push=True)

    local = git(other, "rev-parse", "main")
    assert result.pushed and git(git_repo.parent / "origin.git", "rev-parse", "main") == result.sha
    assert caplog.messages == [
        f"the run landed on the remote as {result.sha[:12]}, but this branch stays at "
        f"{local[:12]} (local changes are in the way, or the branch or its index is in use); "
        "run `git pull --rebase` when convenient"
    ]
    assert git(other, "log", "-1", "--format=%(trailers:key=Nbflow-Run,valueonly)") == RUN_2
    assert git(other, "status", "--porcelain") == ""
    assert not (other / ".git" / "index.lock").exists()


@pytest.mark.parametrize("target", ["current", "runs-branch"])
def test_two_clones_pushing_at_once_both_land(git_repo: Path, tmp_path: Path, target: str) -> None:
    origin = git_repo.parent / "origin.git"
    clones = [clone(origin, tmp_path / f"clone{i}") for i in range(2)]
    runs = [write_run(c, run_id) for c, run_id in zip(clones, (RUN_1, RUN_2), strict=True)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def land(index: int) -> None:
        folder, record = runs[index]
        barrier.wait()
        try:
            commit_run(Project(clones[index]), folder, record, target=target, push=True)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=land, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    branch = "main" if target == "current" else "nbflow/runs"
    landed = git(origin, "log", "--format=%(trailers:key=Nbflow-Run,valueonly)", branch)
    assert sorted(line for line in landed.splitlines() if line) == [RUN_1, RUN_2]


def test_another_run_under_the_same_id_stops_naming_only_differing_files(
    git_repo: Path, tmp_path: Path
) -> None:
    other = clone(git_repo.parent / "origin.git", tmp_path / "other")
    folder1, record1 = write_run(git_repo, RUN_1)
    first = commit_run(Project(git_repo), folder1, record1, target="current", push=True)
    folder2, record2 = write_run(
        other, RUN_1, trigger="schedule", notebook='{"cells": [], "other": 1}\n'
    )

    with pytest.raises(StoreError) as exc:
        commit_run(Project(other), folder2, record2, target="current", push=True)

    local = git(other, "rev-parse", "HEAD")
    assert str(exc.value) == (
        f"cannot push the run: runs/demo/{RUN_1} on origin main holds another run under the "
        'same id (its trigger is "manual" there, "schedule" here); files that differ: '
        f"runs/demo/{RUN_1}/a.ipynb, runs/demo/{RUN_1}/b.ipynb, runs/demo/{RUN_1}/run.json; "
        f"the run commit {local[:12]} is kept locally; compare them and resolve by hand "
        "(`git pull --rebase`)"
    )  # README.md is the same on both sides: not named
    assert git(other, "log", "-1", "--format=%(trailers:key=Nbflow-Run,valueonly)") == RUN_1
    assert git(git_repo.parent / "origin.git", "rev-parse", "main") == first.sha


@pytest.mark.parametrize("target", ["current", "pr"])
def test_push_refuses_to_publish_commits_not_on_the_remote(git_repo: Path, target: str) -> None:
    origin = git_repo.parent / "origin.git"
    (git_repo / "notes.txt").write_text("work in progress\n")
    mine = commit_all(git_repo, "my private work in progress")
    published = git(origin, "for-each-ref", "--format=%(refname) %(objectname)")
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(UnpublishedCommitsError) as exc:
        commit_run(Project(git_repo), folder, record, target=target, push=True)

    again = f"nbflow commit {RUN_1} --push" + (" --target pr" if target == "pr" else "")
    assert str(exc.value) == (
        "cannot push the run: it would publish 1 commit(s) of yours that are not on "
        f"origin: {mine[:12]} my private work in progress; nothing was pushed, and the "
        "run is not committed (its folder stays); push your commits yourself first, then "
        f"`{again}`, or publish the run alone on the runs branch: `nbflow commit {RUN_1} "
        "--push --target runs-branch`"
    )
    assert exc.value.exit_code == 2
    assert git(origin, "for-each-ref", "--format=%(refname) %(objectname)") == published
    assert git(git_repo, "rev-parse", "HEAD") == mine
    assert git(git_repo, "branch", "--list", "nbflow/*") == ""
    assert folder.is_dir()
    git(git_repo, "push", "-q")
    assert commit_run(Project(git_repo), folder, record, target=target, push=True).pushed


def test_push_to_the_runs_branch_refuses_a_commit_of_yours_on_it(git_repo: Path) -> None:
    """A commit of the user's on the local runs branch, not on the remote, is not
    pushed along with the run."""
    origin = git_repo.parent / "origin.git"
    runs = f"refs/heads/{Project(git_repo).commit.runs_branch}"
    empty = git(git_repo, "hash-object", "-t", "tree", "/dev/null")
    mine = git(git_repo, "commit-tree", empty, "-m", "my note on the runs branch")
    git(git_repo, "update-ref", runs, mine)
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(UnpublishedCommitsError) as exc:
        commit_run(Project(git_repo), folder, record, target="runs-branch", push=True)

    assert str(exc.value) == (
        "cannot push the run: it would publish 1 commit(s) of yours that are not on "
        f"origin: {mine[:12]} my note on the runs branch; nothing was pushed, and the "
        "run is not committed (its folder stays); push your commits yourself first, then "
        f"`nbflow commit {RUN_1} --push --target runs-branch`"
    )
    assert git(origin, "for-each-ref", "--format=%(refname)") == "refs/heads/main"
    assert git(git_repo, "rev-parse", runs) == mine


def refuse_pushes(git_repo: Path, message: str) -> None:
    """``origin`` refuses every push with ``message``, counting them in ``tries``."""
    hook = git_repo.parent / "origin.git" / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\necho try >> ../tries\necho "{message}" >&2\nexit 1\n')
    hook.chmod(0o755)


def test_a_push_the_remote_keeps_refusing_is_tried_five_times_then_kept_locally(
    git_repo: Path,
) -> None:
    """A busy remote answers "cannot lock ref" (another push is landing): nbflow
    fetches, replays and pushes again, five times in all, then stops with the run
    commit kept locally."""
    earlier, earlier_record = write_run(git_repo, RUN_2)
    commit_run(Project(git_repo), earlier, earlier_record, target="runs-branch", push=True)
    refuse_pushes(git_repo, "error: cannot lock ref 'refs/heads/nbflow-runs': busy")
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target="runs-branch", push=True)

    kept = git(git_repo, "rev-parse", f"refs/heads/{Project(git_repo).commit.runs_branch}")
    assert str(exc.value).endswith(f"; the run commit {kept[:12]} is kept locally")
    assert (git_repo.parent / "tries").read_text() == "try\n" * 5


@pytest.mark.parametrize("target", ["current", "runs-branch"])
def test_a_refused_first_push_of_a_branch_ends_with_the_pushs_own_error(
    git_repo: Path, target: str
) -> None:
    """The branch is not on the remote yet (the runs branch's first push, a new local
    branch): each retry's fetch finds nothing to replay on, and after five tries the
    error is the push's own, not the fetch's "couldn't find remote ref"."""
    if target == "current":
        git(git_repo, "checkout", "-q", "-b", "feature")
    refuse_pushes(git_repo, "error: cannot lock ref: busy")
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target=target, push=True)

    branch = "feature" if target == "current" else Project(git_repo).commit.runs_branch
    kept = git(git_repo, "rev-parse", branch)
    assert str(exc.value).startswith(f"`git push origin {kept}:refs/heads/{branch}` failed")
    assert "remote: error: cannot lock ref: busy" in str(exc.value)
    assert str(exc.value).endswith(f"; the run commit {kept[:12]} is kept locally")
    assert (git_repo.parent / "tries").read_text() == "try\n" * 5
    assert git(git_repo.parent / "origin.git", "for-each-ref", "--format=%(refname)") == (
        "refs/heads/main"
    )


@pytest.mark.parametrize("target", ["current", "runs-branch"])
def test_a_remote_that_cannot_be_read_stops_the_push_before_anything_is_committed(
    git_repo: Path, tmp_path: Path, target: str
) -> None:
    gone = tmp_path / "gone.git"
    git(git_repo, "remote", "set-url", "origin", str(gone))
    head = git(git_repo, "rev-parse", "HEAD")
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target=target, push=True)

    branch = "main" if target == "current" else Project(git_repo).commit.runs_branch
    assert str(exc.value).startswith(
        f"`git fetch --no-tags -q origin +refs/heads/{branch}:refs/remotes/origin/{branch}` "
        f"failed (exit 128): fatal: '{gone}' does not appear to be a git repository"
    )
    assert git(git_repo, "for-each-ref", "--format=%(refname)", "refs/heads") == "refs/heads/main"
    assert (git(git_repo, "rev-parse", "HEAD"), git(git_repo, "status", "--porcelain")) == (
        head,
        "?? runs/",
    )


def test_a_push_refused_for_another_reason_is_not_tried_again(git_repo: Path) -> None:
    refuse_pushes(git_repo, "error: GH006: Protected branch update failed for refs/heads/main.")
    folder, record = write_run(git_repo, RUN_1)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target="current", push=True)

    assert "GH006: Protected branch update failed" in str(exc.value)
    assert str(exc.value).endswith(
        f"the run commit {git(git_repo, 'rev-parse', 'HEAD')[:12]} is kept locally"
    )
    assert (git_repo.parent / "tries").read_text() == "try\n"


def test_committing_a_run_again_adds_no_commit(git_repo: Path) -> None:
    folder, record = write_run(git_repo, RUN_1)
    first = commit_run(Project(git_repo), folder, record, target="current", push=False)

    again = commit_run(Project(git_repo), folder, record, target="current", push=False)

    assert again.sha == first.sha == git(git_repo, "rev-parse", "HEAD")
    assert git(git_repo, "rev-list", "--count", "HEAD") == "2"


def test_run_push_with_an_unpushed_commit_exits_2_and_keeps_the_run(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = git_repo / "workflows" / "demo"
    write_notebook(workflow / "a.ipynb", None, ["1"])
    write_manifest(workflow, "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n")
    mine = commit_all(git_repo, "add demo, not pushed")
    monkeypatch.chdir(git_repo)

    assert main(["run", "demo", "--push"]) == 2

    out, err = capsys.readouterr()
    run_id = Path(out.strip()).name
    assert err.splitlines()[-1] == (
        "error: cannot push the run: it would publish 1 commit(s) of yours that are not on "
        f"origin: {mine[:12]} add demo, not pushed; nothing was pushed, and the run is not "
        f"committed (its folder stays); push your commits yourself first, then `nbflow commit "
        f"{run_id} --push`, or publish the run alone on the runs branch: `nbflow commit "
        f"{run_id} --push --target runs-branch`"
    )
    assert (git_repo / "runs" / "demo" / run_id / "a.ipynb").is_file()
    assert git(git_repo, "rev-parse", "HEAD") == mine
    assert git(git_repo.parent / "origin.git", "log", "--format=%s", "main") == "initial commit"


@pytest.mark.parametrize("target", ["current", "runs-branch"])
def test_a_later_attempt_of_the_same_run_replaces_its_folder_on_top(
    git_repo: Path, tmp_path: Path, target: str
) -> None:
    origin = git_repo.parent / "origin.git"
    other = clone(origin, tmp_path / "other")  # a re-run: from the commit the run started at
    folder1, record1 = write_run(git_repo, RUN_1, status="failed")
    (folder1 / "stale.ipynb").write_text("{}\n", encoding="utf-8")
    first = commit_run(Project(git_repo), folder1, record1, target=target, push=True)
    folder2, record2 = write_run(other, RUN_1)  # the same seed; b succeeded this time

    second = commit_run(Project(other), folder2, record2, target=target, push=True)

    branch = first.branch
    assert git(origin, "rev-parse", branch) == second.sha
    assert git(origin, "rev-parse", f"{branch}^") == first.sha  # the first attempt, kept
    assert git(origin, "ls-tree", "--name-only", branch, f"runs/demo/{RUN_1}/").split() == [
        f"runs/demo/{RUN_1}/{name}" for name in ("README.md", "a.ipynb", "b.ipynb", "run.json")
    ]
    assert git(origin, "log", "-1", "--format=%(trailers:key=Nbflow-Status,valueonly)", branch) == (
        "succeeded"
    )


def test_pushing_a_run_that_landed_already_adds_no_commit(git_repo: Path, tmp_path: Path) -> None:
    origin = git_repo.parent / "origin.git"
    other = clone(origin, tmp_path / "other")
    folder1, record1 = write_run(git_repo, RUN_1)
    first = commit_run(Project(git_repo), folder1, record1, target="current", push=True)
    folder2, record2 = write_run(other, RUN_1)  # byte for byte the same run folder

    second = commit_run(Project(other), folder2, record2, target="current", push=True)

    assert second.sha == first.sha == git(origin, "rev-parse", "main")
    assert git(other, "rev-parse", "main") == first.sha
    assert git(other, "status", "--porcelain") == ""


def test_push_without_a_remote_names_the_fix(tmp_path: Path) -> None:
    repo = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    configure_git(repo)
    folder, record = write_run(repo, RUN_1)

    with pytest.raises(StoreError, match="no remote named 'origin'"):
        commit_run(Project(repo), folder, record, target="runs-branch", push=True)


def test_token_reaches_git_through_the_environment_only(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(git_repo, "remote", "set-url", "origin", "https://127.0.0.1:9/owner/repo.git")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret123")
    config_before = (git_repo / ".git" / "config").read_text()
    repo = Git.open(git_repo)

    env = repo._remote_env("origin")
    failure = repo.try_push("origin", "HEAD:refs/heads/main")

    headers = git_env_config(git_repo, env, "http.https://127.0.0.1:9/.extraheader")
    assert headers == ["", "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldDEyMw=="]
    assert failure is not None and "ghs_secret123" not in str(failure)
    assert (git_repo / ".git" / "config").read_text() == config_before


def git_env_config(repo: Path, env: dict[str, str], key: str) -> list[str]:
    import os
    import subprocess

    done = subprocess.run(
        ["git", "config", "--get-all", key],
        cwd=repo,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split("\n")[:-1]


# --------------------------------------------------------------------------- size limits


def test_notebooks_above_the_warning_size_are_committed_with_a_warning(
    git_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (git_repo / "nbflow.yaml").write_text("commit: {warn_notebook_bytes: 100}\n")
    folder, record = write_run(git_repo, RUN_1, notebook="x" * 2_000)

    with caplog.at_level(logging.WARNING, logger="nbflow.git.repo"):
        commit_run(Project(git_repo), folder, record, target="current", push=False)

    assert caplog.messages[0] == (
        f"runs/demo/{RUN_1}/a.ipynb is 0.0 MB, above 0.0 MB (commit.warn_notebook_bytes in "
        "nbflow.yaml): large notebooks make the repository slow to clone"
    )
    assert len(run_files(git_repo)) == 4


def test_notebooks_above_the_maximum_size_are_refused(git_repo: Path) -> None:
    (git_repo / "nbflow.yaml").write_text("commit:\n  max_notebook_bytes: 1000000\n")
    folder, record = write_run(git_repo, RUN_1, notebook="x" * 1_500_000)

    with pytest.raises(StoreError) as exc:
        commit_run(Project(git_repo), folder, record, target="current", push=False)

    assert str(exc.value) == (
        f"runs/demo/{RUN_1}/a.ipynb is 1.5 MB, above the limit of 1.0 MB: not committed; "
        "clear large outputs in the notebook, or raise the limit in nbflow.yaml with "
        "`commit: {max_notebook_bytes: 1500001}`"
    )
    assert git(git_repo, "log", "--format=%s") == "initial commit"


# --------------------------------------------------------------------------- history


def test_committed_records_are_read_without_a_checkout(git_repo: Path) -> None:
    folder, record = write_run(git_repo, RUN_1)
    commit_run(Project(git_repo), folder, record, target="runs-branch", push=False)

    assert list(iter_committed_records(git_repo, "nbflow/runs")) == [record]
    assert list(iter_committed_records(git_repo, "nbflow/runs", "other")) == []
    assert list(iter_committed_records(git_repo, "no-such-branch")) == []
    assert list(iter_committed_records(git_repo, "HEAD")) == []


def test_committed_records_come_by_workflow_then_run_and_known_ones_are_left_unread(
    git_repo: Path,
) -> None:
    """Records of two workflows, committed in another order, read in one batch: by
    workflow, then run id; a run the caller has already (``known``) is not read, and
    an unreadable run.json is skipped."""
    folders = [
        write_run(git_repo, RUN_2, workflow="zeta"),
        write_run(git_repo, RUN_2),
        write_run(git_repo, RUN_1),
    ]
    for folder, record in folders:
        commit_run(Project(git_repo), folder, record, target="current", push=False)
    broken = git_repo / "runs" / "demo" / "2026-11-24T000000Z-ee00"
    broken.mkdir()
    (broken / "run.json").write_text("{not json", encoding="utf-8")
    commit_all(git_repo, "a broken record")
    demo_1, demo_2, zeta_2 = folders[2][1], folders[1][1], folders[0][1]

    assert list(iter_committed_records(git_repo, "HEAD")) == [demo_1, demo_2, zeta_2]
    assert list(iter_committed_records(git_repo, "HEAD", known={RUN_1})) == [demo_2, zeta_2]
    assert list(iter_committed_records(git_repo, "HEAD", "zeta")) == [zeta_2]


def test_runs_lists_a_run_that_exists_only_in_the_runs_branch(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    folder, record = write_run(git_repo, RUN_1, status="failed")
    commit_run(Project(git_repo), folder, record, target="runs-branch", push=False)
    shutil.rmtree(git_repo / "runs")
    monkeypatch.chdir(git_repo)

    assert main(["runs"]) == 0
    listed = capsys.readouterr().out
    assert listed.splitlines()[1].startswith(
        f"{RUN_1}  demo                 2026-11-23 00:00  failed      1/2 steps"
    )
    assert main(["runs", "--branch", "main"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["runs", "--branch", "nbflow/runs"]) == 0
    assert capsys.readouterr().out == listed
    assert main(["show", RUN_1, "--json"]) == 0
    assert f'"run_id": "{RUN_1}"' in capsys.readouterr().out


# -- changes between revisions (nbflow affected, run --changed, hooks)


@pytest.fixture
def two_commits(project_repo: Path) -> Path:
    (project_repo / "a.txt").write_text("a\n")
    (project_repo / "old name.txt").write_text("moved\n")
    commit_all(project_repo, "first")
    (project_repo / "a.txt").write_text("a2\n")
    (project_repo / "sub").mkdir()
    git(project_repo, "mv", "old name.txt", "sub/new name.txt")
    commit_all(project_repo, "second")
    return project_repo


def test_changed_paths_count_a_rename_under_both_names(two_commits: Path) -> None:
    base, head = lookups.revision_range(two_commits, "HEAD~1..HEAD")
    assert lookups.changed_paths(two_commits, base, head) == [
        "a.txt",
        "old name.txt",
        "sub/new name.txt",
    ]


def test_file_at_a_revision(two_commits: Path) -> None:
    assert lookups.file_at(two_commits, "HEAD~1", "a.txt") == "a"
    assert lookups.file_at(two_commits, "HEAD", "a.txt") == "a2"
    assert lookups.file_at(two_commits, "HEAD", "old name.txt") is None


def test_revision_range_forms(two_commits: Path) -> None:
    first, second = git(two_commits, "rev-parse", "HEAD~1"), git(two_commits, "rev-parse", "HEAD")
    assert lookups.revision_range(two_commits, "HEAD~1..") == (first, second)
    assert lookups.revision_range(two_commits, "HEAD...HEAD~1") == (first, first)
    with pytest.raises(UsageError, match=r"^'HEAD' is not a range: write BASE\.\.HEAD"):
        lookups.revision_range(two_commits, "HEAD")


def test_hooks_dir_follows_core_hooks_path(project_repo: Path) -> None:
    assert lookups.hooks_dir(project_repo) == project_repo.resolve() / ".git" / "hooks"
    git(project_repo, "config", "core.hooksPath", ".githooks")
    assert lookups.hooks_dir(project_repo) == project_repo.resolve() / ".githooks"
    git(project_repo, "config", "core.hooksPath", str(project_repo / "elsewhere"))
    assert lookups.hooks_dir(project_repo) == project_repo / "elsewhere"


def test_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not in a Git work tree; run `git init` first"):
        lookups.work_tree(tmp_path)


def test_origin_url_and_path_in_repository(git_repo: Path, tmp_path: Path) -> None:
    assert lookups.origin_url(git_repo) == str(tmp_path / "origin.git")
    (git_repo / "runs" / "demo").mkdir(parents=True)
    assert lookups.path_in_repository(git_repo / "runs" / "demo") == "runs/demo"
    git(git_repo, "remote", "remove", "origin")
    assert lookups.origin_url(git_repo) is None
    assert lookups.origin_url(tmp_path / "elsewhere") is None
