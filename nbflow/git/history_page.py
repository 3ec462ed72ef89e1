"""The history page of a workflow added to a run commit's tree.

A run commit changes its run folder ``runs/<wf>/<run-id>/`` and, beside it, the
workflow's page ``runs/<wf>/README.md`` and chart ``runs/<wf>/durations.svg``
(report/history.py), and the summary index ``runs/<wf>/summaries.jsonl``
(git/summary_index.py), rendered from every run record in the tree being committed
(their summaries read through the cache of git/summary_cache.py, or the index the
tree holds already).
The replay after a rejected push (git/replay.py) renders them again on the new tip,
so the page never conflicts: it lists the runs the branch holds.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Sequence
from pathlib import Path

from nbflow.git import summary_index
from nbflow.git.commands import Git
from nbflow.git.summary_cache import Summaries
from nbflow.git.summary_index import INDEX_FILE
from nbflow.report.history import CHART, PAGE, page_records, render_page
from nbflow.store.runs import RUN_ID_PATTERN


def page_paths(run_folder: str) -> tuple[str, ...]:
    """The page files a commit of ``run_folder`` (``runs/<wf>/<run-id>``) writes."""
    folder = posixpath.dirname(run_folder)
    return tuple(f"{folder}/{name}" if folder else name for name in (PAGE, CHART, INDEX_FILE))


def committed_tree(git: Git, parent: str | None, paths: Sequence[str], run_folder: str) -> str:
    """The tree of a run commit on ``parent``: ``paths`` from the work tree and the
    workflow's page; refused (a bug) when it would change anything else."""
    tree = with_history_page(git, git.tree_with_files(parent, paths), run_folder)
    git.check_only_folder(parent, tree, run_folder, page_paths(run_folder))
    return tree


def with_history_page(git: Git, tree: str, run_folder: str) -> str:
    """``tree`` with the page of ``run_folder``'s workflow rendered from its records."""
    folder = posixpath.dirname(run_folder)

    def wanted(path: str) -> bool:
        parts = path.removeprefix(f"{folder}/").split("/")
        return len(parts) == 2 and bool(RUN_ID_PATTERN.match(parts[0]))

    summaries = Summaries(git)  # an unreadable record is left off the page and the index
    found = [
        (blob, run) for _, blob, run in summaries.records(tree, folder, wanted) if run is not None
    ]
    runs = [run for _, run in found]
    files = render_page(posixpath.basename(folder), page_records(runs))
    files[INDEX_FILE] = summary_index.render(summaries.line(blob, run) for blob, run in found)
    summaries.save()
    with tempfile.TemporaryDirectory(prefix="nbflow-page-") as tmp:
        written = []
        for name, text in files.items():
            written.append(Path(tmp) / name)
            written[-1].write_text(text, encoding="utf-8")
        blobs = git.run("hash-object", "-w", "--", *map(str, written)).split()
    paths = [f"{folder}/{name}" if folder else name for name in files]
    return git.graft(tree, {p: ("100644", blob) for p, blob in zip(paths, blobs, strict=True)})


def sync_page(git: Git, commit: str, run_folder: str, index_env: dict[str, str]) -> None:
    """After a commit on the checked-out branch: the page's files in the index being
    prepared (``index_env``) and in the work tree as committed, so ``git status``
    shows nothing for them."""
    paths = page_paths(run_folder)
    entries = []
    for path in paths:
        blob = git.run("rev-parse", f"{commit}:{path}").strip()
        entries += ["--cacheinfo", f"100644,{blob},{path}"]
        target = git.top / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(git.run("show", f"{commit}:{path}") + "\n", encoding="utf-8")
    git.run("update-index", "--add", *entries, env=index_env)
