"""Replaying a run commit on the branch's new tip after its push was rejected.

A run commit changes one run folder. On the new tip that folder is:

- absent: the usual case (another run landed first): the folder is added;
- the same, file for file: the run landed already (a retried push): nothing to do;
- a record of the **same run** — same workflow, run id, start, trigger, commit and
  parameters, i.e. the same seed: an earlier attempt of it ("Re-run failed jobs" on
  GitHub keeps the run id and starts again from the original commit, so its
  assemble commits on a tip that already holds the first attempt). The folder is
  *replaced* by this commit's, in a new commit on top: the earlier attempt stays in
  history;
- a record of another run under the same id: a real conflict. The error names only
  the files that differ, and how the runs differ.

The workflow's history page beside the folder is rendered again on the new tip
(git/history_page.py), so it lists the runs of both sides.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nbflow.errors import StoreError
from nbflow.git.commands import Git
from nbflow.git.history_page import with_history_page
from nbflow.run_record import SEED_KEYS
from nbflow.store.runs import RECORD_FILE

_Files = dict[str, tuple[str, str]]  # path: (mode, blob)


def replay_run(git: Git, commit: str, onto: str, where: str, kept: str) -> str:
    """``commit``'s run folder on ``onto`` (added, or replacing an earlier attempt of
    the same run) as a new commit, or ``onto`` when it holds that folder already;
    StoreError when ``onto`` holds another run under the folder's name."""
    folder = _run_folder(git, commit)
    ours, theirs = _files(git, commit, folder), _files(git, onto, folder)
    if ours == theirs:
        return onto
    if theirs:
        _check_same_run(git, (commit, onto), folder, _differing(ours, theirs), (where, kept))
    tree = with_history_page(git, _tree_with(git, onto, folder, ours), folder)
    author = git.run("log", "-1", "--format=%an%x00%ae%x00%aI", commit).strip().split("\0")
    env = dict(
        zip(("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE"), author, strict=False)
    )
    message = git.run("log", "-1", "--format=%B", commit)
    return git.commit_tree(tree, [onto], message.rstrip("\n") + "\n", env)


def _run_folder(git: Git, commit: str) -> str:
    """The run folder ``commit`` changes (a run commit changes one run folder, and its
    workflow's history page beside it): the one holding its run record."""
    raw = git.run(
        "diff-tree", "-r", "-z", "--name-only", "--no-renames", "--root", "--no-commit-id", commit
    )
    paths = [p for p in raw.split("\0") if p]
    records = [os.path.dirname(p) for p in paths if os.path.basename(p) == RECORD_FILE]
    if records:
        return records[0]
    return os.path.commonpath([os.path.dirname(p) or "." for p in paths]) if paths else "."


def _files(git: Git, rev: str, folder: str) -> _Files:
    raw = git.run("ls-tree", "-r", "-z", "--full-tree", rev, "--", f"{folder}/")
    files = {}
    for entry in filter(None, raw.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, _, blob = meta.split()
        files[path] = (mode, blob)
    return files


def _differing(ours: _Files, theirs: _Files) -> list[str]:
    return sorted(p for p in ours.keys() | theirs.keys() if ours.get(p) != theirs.get(p))


def _check_same_run(
    git: Git, revs: tuple[str, str], folder: str, differing: Sequence[str], place: tuple[str, str]
) -> None:
    (where, kept), path = place, f"{folder}/{RECORD_FILE}"
    ours, theirs = (_seed_of(git, rev, path) for rev in revs)
    if ours is not None and ours == theirs:
        return
    key = next((k for k in SEED_KEYS if (ours or {}).get(k) != (theirs or {}).get(k)), "")
    why = (
        f"its {key} is {json.dumps(theirs[key])} there, {json.dumps(ours[key])} here"
        if ours is not None and theirs is not None
        else f"{path} is missing or unreadable on one side"
    )
    shown = ", ".join(differing[:3]) + (
        f" and {len(differing) - 3} more" if len(differing) > 3 else ""
    )
    raise StoreError(
        f"cannot push the run: {folder} on {where} holds another run under the same id "
        f"({why}); files that differ: {shown}; the run commit {kept[:12]} is kept "
        "locally; compare them and resolve by hand (`git pull --rebase`)"
    )


def _seed_of(git: Git, rev: str, path: str) -> dict[str, Any] | None:
    """The seed's fields of the run record at ``rev:path``, or None."""
    if git.try_run("cat-file", "-e", f"{rev}:{path}") is not None:
        return None
    try:
        data = json.loads(git.run("show", f"{rev}:{path}"))
    except ValueError:
        return None
    return {k: data.get(k) for k in SEED_KEYS} if isinstance(data, dict) else None


def _tree_with(git: Git, onto: str, folder: str, files: _Files) -> str:
    """``onto``'s tree with ``folder`` holding exactly ``files``."""
    with tempfile.TemporaryDirectory(prefix="nbflow-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git.run("read-tree", onto, env=env)
        git.run("rm", "-r", "-q", "-f", "--cached", "--ignore-unmatch", "--", folder, env=env)
        infos = [a for p, (m, b) in sorted(files.items()) for a in ("--cacheinfo", f"{m},{b},{p}")]
        git.run("update-index", "--add", *infos, env=env)
        return git.run("write-tree", env=env).strip()
