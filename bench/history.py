"""History that grows: ``nbflow runs`` over 10,000 committed runs, a cached rerun
whose history holds them, a backfill whose ticks all ran (the catch-up/backfill
history scan alone), ``nbflow affected`` / ``run --changed`` over a range of
1,000 commits, and committing a 50-step run into a repository holding them; and
the history rows again in a fresh clone with no summary cache (as every CI run
starts: ``actions/checkout``), the cache deleted before each sample.
Usage: ``python bench/history.py [REPEAT] [RUNS] [COMMITS]`` (defaults 5, 10000, 1000).

The repository is generated, not run: ``git fast-import`` writes RUNS run commits
(each adds ``runs/wide/<run-id>/`` with a run.json of 5 steps, a README.md and an
executed notebook, as ``nbflow commit`` would), then COMMITS commits that change
the project (a data file most of the time, a notebook one commit in fifty, and a
run folder one commit in five), and checks the result out. The run that warms
the step cache is committed by nbflow, so the repository holds the history page
and the summary index as one whose runs nbflow committed does. Building it, and
the clone, is untimed. Every command is a fresh ``python -m nbflow`` process,
round-robin.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import PYTHON, chain_manifest, compare, env, load, machine, notebook, run, table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nbflow.run_record import (  # noqa: E402  (the bench runs from a checkout)
    Attempt,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
)

WORKFLOW = "wide"
STEPS = 5
COMMIT_STEPS = 50
START = datetime(2025, 1, 1, tzinfo=UTC)


def record(index: int, steps: int, run_id: str | None = None) -> RunRecord:
    """A succeeded run of ``steps`` chained steps, as the runner writes it."""
    start = START + timedelta(minutes=index)
    run_id = run_id or f"{start:%Y-%m-%dT%H%M%SZ}-{index % 65536:04x}"
    iso = start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    step_records = tuple(
        StepRecord(
            id=f"s{i}",
            status=StepStatus.SUCCEEDED,
            needs=(f"s{i - 1}",) if i else (),
            notebook=f"s{i}.ipynb",
            source_notebook=f"s{i}.ipynb",
            kernel="python3",
            parameters={"p": i},
            attempts=(Attempt(1, iso, iso, 0.1, StepStatus.SUCCEEDED),),
            start=iso,
            end=iso,
            duration=0.1,
            outputs={"rows": index},
            fingerprint=f"{index:032x}{i:032x}",
        )
        for i in range(steps)
    )
    return RunRecord(
        workflow=WORKFLOW,
        run_id=run_id,
        status=RunStatus.SUCCEEDED,
        trigger="schedule",
        start=iso,
        end=iso,
        duration=0.1 * steps,
        commit="0" * 40,
        steps=step_records,
        manifest=f"workflows/{WORKFLOW}/workflow.yaml",
    )


def _blob(data: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(data), data)


def _commit(n: int, message: str, files: dict[str, bytes], first: bool = False) -> bytes:
    stamp = int((START + timedelta(minutes=n)).timestamp())
    text = message.encode()
    head = b"commit refs/heads/main\nmark :%d\n" % (n + 1)
    head += b"committer bench <bench@example.com> %d +0000\n" % stamp
    head += _blob(text)
    if not first:
        head += b"from :%d\n" % n
    body = b"".join(b"M 100644 inline %s\n" % p.encode() + _blob(d) for p, d in files.items())
    return head + body + b"\n"


def stream(runs: int, commits: int) -> Iterator[bytes]:
    """The fast-import stream: the project, RUNS run commits, COMMITS later commits."""
    nb = json.dumps(notebook(["x = p + 1"], "p = 0"), indent=1).encode()
    project = {
        "nbflow.yaml": b"runs_dir: runs\n",
        f"workflows/{WORKFLOW}/workflow.yaml": chain_manifest(
            WORKFLOW, STEPS, "defaults: {cache: true}\n"
        ).encode(),
        **{f"workflows/{WORKFLOW}/s{i}.ipynb": nb for i in range(STEPS)},
        "data/notes.txt": b"0\n",
    }
    yield _commit(0, "project", project, first=True)
    n = 1
    for index in range(runs):
        yield _run_commit(n, index)
        n += 1
    for change in range(commits):
        if change % 5 == 4:
            yield _run_commit(n, runs + change)
        elif change % 50 == 0:
            cell = notebook([f"x = p + {change}"], "p = 0")
            path = f"workflows/{WORKFLOW}/s{STEPS - 1}.ipynb"
            yield _commit(n, f"edit {path}", {path: json.dumps(cell, indent=1).encode()})
        else:
            yield _commit(n, f"data {change}", {f"data/notes-{change % 40}.txt": b"%d\n" % change})
        n += 1


def _run_commit(n: int, index: int) -> bytes:
    rec = record(index, STEPS)
    folder = f"runs/{WORKFLOW}/{rec.run_id}"
    files = {
        f"{folder}/run.json": (json.dumps(rec.to_json(), indent=2) + "\n").encode(),
        f"{folder}/README.md": f"# {WORKFLOW} {rec.run_id}\n\nsucceeded\n".encode(),
        f"{folder}/s0.ipynb": json.dumps(notebook(["x = p + 1"], f"p = {index}")).encode(),
    }
    return _commit(n, f"nbflow: {WORKFLOW} {rec.run_id}", files)


def build(runs: int, commits: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="nbflow-bench-history-"))
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "config", "user.name", "bench"], check=True)
    subprocess.run([*git, "config", "user.email", "bench@example.com"], check=True)
    importer = subprocess.Popen([*git, "fast-import", "--quiet"], stdin=subprocess.PIPE)
    assert importer.stdin is not None
    for chunk in stream(runs, commits):
        importer.stdin.write(chunk)
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run([*git, "checkout", "-q", "-f", "main"], check=True)
    subprocess.run([*git, "tag", "before-changes", f"main~{commits}"], check=True)
    return root


def add_run_folder(root: Path, steps: int) -> str:
    """An uncommitted run folder of a ``steps``-step run, as a run leaves it."""
    rec = record(10**6, steps, run_id="2026-12-01T000000Z-beef")
    folder = root / "runs" / WORKFLOW / rec.run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(rec.to_json(), indent=2) + "\n")
    (folder / "README.md").write_text(f"# {rec.run_id}\n")
    for i in range(steps):
        cells = [f"x = p + {i}", "print(x)"]
        (folder / f"s{i}.ipynb").write_text(json.dumps(notebook(cells, "p = 0"), indent=1))
    return rec.run_id


def fresh_clone(root: Path, run_id: str) -> Path:
    """A clone of the bench repository, as ``actions/checkout`` makes one, with the
    uncommitted run folder ``run_id`` copied in."""
    clone = Path(tempfile.mkdtemp(prefix="nbflow-bench-clone-")) / "repo"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    for key, value in (("user.name", "bench"), ("user.email", "bench@example.com")):
        subprocess.run(["git", "-C", str(clone), "config", key, value], check=True)
    folder = Path("runs") / WORKFLOW / run_id
    shutil.copytree(root / folder, clone / folder)
    return clone


def main(repeat: int, runs: int, commits: int) -> None:
    root = build(runs, commits)
    nbflow = [PYTHON, "-m", "nbflow"]
    # Executes the 5 steps once (the step cache is warm); committed by nbflow, with the
    # history page and the summary index.
    run([*nbflow, "run", WORKFLOW, "--commit"], root)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "commit", "-q", "--allow-empty", "-m", "warm cache"], check=True
    )
    run_id = add_run_folder(root, COMMIT_STEPS)
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    clone = fresh_clone(root, run_id)

    def commit(where: Path = root) -> float:
        took = run([*nbflow, "commit", run_id], where)
        subprocess.run(["git", "-C", str(where), "reset", "-q", head], check=True, env=env())
        subprocess.run(["git", "-C", str(where), "checkout", "-q", "--", "runs"], check=True)
        return took

    def cold(took: Callable[[], float]) -> float:
        """``took`` in the fresh clone with no summary cache (deleting it is untimed)."""
        shutil.rmtree(clone / ".git" / "nbflow", ignore_errors=True)
        return took()

    backfill = [
        *nbflow,
        "backfill",
        WORKFLOW,
        "--from",
        "2025-01-01T00:00Z",
        "--to",
        "2025-01-01T00:09Z",
        "--every",
        "1m",
    ]

    changed = f"before-changes..{head}"
    contenders = {
        "interpreter start": lambda: run([PYTHON, "-c", "pass"], root),
        "nbflow --help": lambda: run([*nbflow, "--help"], root),
        f"nbflow runs ({runs:,} runs)": lambda: run([*nbflow, "runs"], root),
        "nbflow runs --branch main": lambda: run([*nbflow, "runs", "--branch", "main"], root),
        f"nbflow run {WORKFLOW} (cached, {runs:,} runs)": lambda: run(
            [*nbflow, "run", WORKFLOW], root
        ),
        f"nbflow backfill (10 ticks already run, {runs:,} runs)": lambda: run(backfill, root),
        f"nbflow affected ({commits:,} commits)": lambda: run([*nbflow, "affected", changed], root),
        f"nbflow run --changed ({commits:,} commits)": lambda: run(
            [*nbflow, "run", "--changed", changed], root
        ),
        f"nbflow commit ({COMMIT_STEPS}-step run)": commit,
        "fresh clone, no cache: nbflow runs": lambda: cold(lambda: run([*nbflow, "runs"], clone)),
        "fresh clone, no cache: nbflow backfill": lambda: cold(lambda: run(backfill, clone)),
        f"fresh clone, no cache: nbflow commit ({COMMIT_STEPS}-step run)": lambda: cold(
            lambda: commit(clone)
        ),
    }
    rows = compare(repeat, contenders)
    print(f"## history: {runs:,} runs, {commits:,} commits ({machine()}; {load()})\n")
    print(table(rows, "interpreter start"))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [5, 10_000, 1_000][len(args) :]))
