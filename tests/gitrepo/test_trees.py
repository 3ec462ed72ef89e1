"""Run commits' trees built without an index (``Git.tree_with_files``: blobs hashed,
the trees from the top down to the run folder written again with ``mktree``) are
the trees ``git add -f`` into a copy of the parent's index gives, file for file:
content, executable bit, symbolic links, ignored files, nested folders, a folder
replacing an earlier one, a file and a folder trading places, the attributes'
filters and ``core.filemode``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import git

from nbflow.git.commands import Git

FOLDER = "runs/wf/2026-12-01T000000Z-ab12"


def added_tree(repo: Path, parent: str | None, paths: list[str]) -> str:
    """What ``git add -f`` gives: the parent's tree read into a temporary index, the
    paths added, the index written as a tree (how nbflow built run commits before)."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo.parent / "oracle-index")}

    def run(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    run("read-tree", *([parent] if parent else ["--empty"]))
    run("add", "-f", "--", *paths)
    tree = run("write-tree")
    Path(env["GIT_INDEX_FILE"]).unlink()
    return tree


def listing(repo: Path, tree: str) -> str:
    return git(repo, "ls-tree", "-r", "-t", "--full-tree", tree)


def write(repo: Path, path: str, text: str, executable: bool = False) -> str:
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    file.chmod(0o755 if executable else 0o644)
    return path


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A", "-f")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def assert_same_tree(repo: Path, parent: str | None, paths: list[str]) -> str:
    tree = Git(repo).tree_with_files(parent, paths)
    expected = added_tree(repo, parent, paths)
    assert listing(repo, tree) == listing(repo, expected)
    assert tree == expected
    return tree


def test_nested_executable_ignored_and_linked_files_as_git_add_gives(git_repo: Path) -> None:
    for n in range(20):  # other files the parent holds, left as they are
        write(git_repo, f"data/d{n % 3}/f{n}.txt", f"{n}\n")
    (git_repo / ".gitignore").write_text("runs/\n*.log\n", encoding="utf-8")
    parent = commit_all(git_repo, "project")
    paths = [
        write(git_repo, f"{FOLDER}/run.json", "{}\n"),
        write(git_repo, f"{FOLDER}/README.md", "# run\n"),
        write(git_repo, f"{FOLDER}/step.ipynb", "{}\n", executable=True),
        write(git_repo, f"{FOLDER}/sub/deeper/out.log", "nested, ignored\n"),
    ]
    os.symlink("run.json", git_repo / FOLDER / "latest.json")
    paths.append(f"{FOLDER}/latest.json")

    tree = assert_same_tree(git_repo, parent, paths)

    entries = listing(git_repo, tree)
    assert "100755 blob" in entries.split(f"{FOLDER}/step.ipynb")[0].splitlines()[-1]
    assert "120000 blob" in entries.split(f"{FOLDER}/latest.json")[0].splitlines()[-1]
    assert git(git_repo, "show", f"{tree}:{FOLDER}/sub/deeper/out.log") == "nested, ignored"
    assert git(git_repo, "diff-tree", "-r", "--name-only", parent, tree).splitlines() == sorted(
        paths
    )


def test_a_folder_replacing_an_earlier_runs_folder_as_git_add_gives(git_repo: Path) -> None:
    write(git_repo, f"{FOLDER}/run.json", "first attempt\n")
    write(git_repo, f"{FOLDER}/step.ipynb", "{}\n", executable=True)
    write(git_repo, f"{FOLDER}/left.ipynb", "only in the first attempt\n")
    write(git_repo, "runs/wf/2026-11-30T000000Z-0000/run.json", "another run\n")
    parent = commit_all(git_repo, "first attempt")
    paths = [
        write(git_repo, f"{FOLDER}/run.json", "second attempt\n"),
        write(git_repo, f"{FOLDER}/step.ipynb", "{}\n", executable=False),
        write(git_repo, f"{FOLDER}/new.ipynb", "{}\n"),
    ]

    tree = assert_same_tree(git_repo, parent, paths)

    assert git(git_repo, "show", f"{tree}:{FOLDER}/run.json") == "second attempt"
    assert git(git_repo, "ls-tree", tree, f"{FOLDER}/step.ipynb").startswith("100644 ")
    assert git(git_repo, "show", f"{tree}:{FOLDER}/left.ipynb") == "only in the first attempt"


@pytest.mark.parametrize("symlinks", ["true", "false"])
def test_a_file_and_a_folder_trading_places_as_git_add_gives(git_repo: Path, symlinks: str) -> None:
    """Also with ``core.symlinks`` false: only a link's mode is kept, not a folder's."""
    write(git_repo, "runs/wf/was-a-file", "file\n")
    write(git_repo, "runs/wf/was-a-folder/inside.txt", "inside\n")
    parent = commit_all(git_repo, "before")
    git(git_repo, "config", "core.symlinks", symlinks)
    (git_repo / "runs/wf/was-a-file").unlink()
    (git_repo / "runs/wf/was-a-folder/inside.txt").unlink()
    (git_repo / "runs/wf/was-a-folder").rmdir()
    paths = [
        write(git_repo, "runs/wf/was-a-file/now.txt", "now a folder\n"),
        write(git_repo, "runs/wf/was-a-folder", "now a file\n"),
    ]

    tree = assert_same_tree(git_repo, parent, paths)

    assert git(git_repo, "show", f"{tree}:runs/wf/was-a-folder") == "now a file"


def test_without_a_parent_the_tree_holds_only_the_files(git_repo: Path) -> None:
    paths = [write(git_repo, f"{FOLDER}/run.json", "{}\n"), write(git_repo, "top.txt", "t\n")]

    tree = assert_same_tree(git_repo, None, paths)

    assert git(git_repo, "ls-tree", "-r", "--name-only", tree).splitlines() == [
        f"{FOLDER}/run.json",
        "top.txt",
    ]


def test_attributes_core_filemode_and_core_symlinks_false_as_git_add_gives(
    git_repo: Path,
) -> None:
    """As on a file system without executable bits or symbolic links (Windows)."""
    (git_repo / ".gitattributes").write_text("*.txt text eol=lf\n", encoding="utf-8")
    write(git_repo, f"{FOLDER}/kept-executable.txt", "x\n", executable=True)
    os.symlink("kept-executable.txt", git_repo / FOLDER / "link")
    parent = commit_all(git_repo, "attributes")
    git(git_repo, "config", "core.filemode", "false")
    git(git_repo, "config", "core.symlinks", "false")
    (git_repo / FOLDER / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (git_repo / FOLDER / "link").unlink()
    paths = [
        f"{FOLDER}/crlf.txt",
        write(git_repo, f"{FOLDER}/kept-executable.txt", "y\n", executable=False),
        write(git_repo, f"{FOLDER}/link", "other.txt"),  # a link checked out as a file
        write(git_repo, f"{FOLDER}/new-executable.txt", "z\n", executable=True),
    ]

    tree = assert_same_tree(git_repo, parent, paths)

    assert git(git_repo, "cat-file", "blob", f"{tree}:{FOLDER}/crlf.txt") == "one\ntwo"
    modes = git(git_repo, "ls-tree", tree, f"{FOLDER}/").splitlines()
    assert [line.split()[0] for line in modes] == ["100644", "100755", "120000", "100644"]


@pytest.mark.parametrize("setting", ["core.filemode", "core.symlinks"])
def test_core_filemode_or_core_symlinks_false_alone_as_git_add_gives(
    git_repo: Path, setting: str
) -> None:
    """Each setting keeps only its own mode: with ``core.filemode`` false alone a link
    checked out as a file becomes a file, with ``core.symlinks`` false alone a file no
    longer executable loses its bit."""
    write(git_repo, f"{FOLDER}/was-executable.txt", "x\n", executable=True)
    os.symlink("was-executable.txt", git_repo / FOLDER / "link")
    parent = commit_all(git_repo, "modes")
    git(git_repo, "config", setting, "false")
    (git_repo / FOLDER / "link").unlink()
    paths = [
        write(git_repo, f"{FOLDER}/link", "was-executable.txt"),
        write(git_repo, f"{FOLDER}/was-executable.txt", "y\n", executable=False),
    ]

    tree = assert_same_tree(git_repo, parent, paths)

    modes = [line.split()[0] for line in listing(git_repo, tree).splitlines()[-2:]]
    assert modes == (["100644", "100755"] if setting == "core.filemode" else ["120000", "100644"])


def test_a_workflow_with_many_earlier_runs_as_git_add_gives(git_repo: Path) -> None:
    """The workflow's folder read from the parent is a tree object of a few kilobytes
    (one entry per earlier run), not the few entries of a new repository."""
    earlier = [f"runs/wf/2026-11-{day:02}T000000Z-ab12" for day in range(1, 31)]
    for folder in earlier:
        write(git_repo, f"{folder}/run.json", f"{folder}\n")
    parent = commit_all(git_repo, "a month of runs")
    paths = [write(git_repo, f"{FOLDER}/run.json", "{}\n")]

    tree = assert_same_tree(git_repo, parent, paths)

    runs = git(git_repo, "ls-tree", "--name-only", f"{tree}:runs/wf").splitlines()
    assert runs == [*(f.rpartition("/")[2] for f in earlier), FOLDER.rpartition("/")[2]]


def test_a_new_subfolder_before_an_earlier_one_as_git_add_gives(git_repo: Path) -> None:
    """A later attempt adding a subfolder the parent lacks (its name with a space, as
    ``git cat-file`` echoes it), then writing into one it has: the earlier subfolder's
    other files are kept."""
    write(git_repo, f"{FOLDER}/b/out.txt", "first attempt\n")
    write(git_repo, f"{FOLDER}/b/only-first.txt", "kept\n")
    parent = commit_all(git_repo, "first attempt")
    paths = [
        write(git_repo, f"{FOLDER}/a new/new.txt", "second attempt\n"),
        write(git_repo, f"{FOLDER}/b/out.txt", "second attempt\n"),
    ]

    tree = assert_same_tree(git_repo, parent, paths)

    assert git(git_repo, "show", f"{tree}:{FOLDER}/b/only-first.txt") == "kept"
