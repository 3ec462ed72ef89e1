"""Builders for tests: tiny notebooks and workflow folders written to real files."""

from __future__ import annotations

import contextlib
import json
import subprocess
import textwrap
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def code_cell(source: str, tags: Iterable[str] = ()) -> dict[str, Any]:
    """A code cell dict (nbformat 4) with optional tags."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"c{abs(hash((source, tuple(tags)))) % 10**8:08d}",
        "metadata": {"tags": list(tags)},
        "outputs": [],
        "source": source,
    }


def markdown_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": "md", "metadata": {}, "source": source}


def write_notebook(
    path: Path,
    parameters_source: str | None = None,
    cells: Iterable[str | dict[str, Any]] = (),
    *,
    kernel: str = "python3",
) -> Path:
    """Write a valid nbformat-4 notebook: a cell tagged "parameters" (unless None),
    then ``cells`` (source strings become code cells)."""
    all_cells: list[dict[str, Any]] = []
    if parameters_source is not None:
        all_cells.append(code_cell(parameters_source, tags=["parameters"]))
    for cell in cells:
        all_cells.append(code_cell(cell) if isinstance(cell, str) else cell)
    notebook = {
        "cells": all_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": kernel},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
    return path


def write_manifest(folder: Path, text: str) -> Path:
    """Write ``folder/workflow.yaml`` from dedented ``text``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workflow.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def manifest_problems(path: Path) -> list[str]:
    """The problems loading the manifest at ``path`` reports, as printed."""
    from nbflow.errors import ManifestError
    from nbflow.manifest.load import load_manifest

    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    return [str(p) for p in exc.value.problems]


def latest_run(root: Path, workflow: str) -> tuple[Path, Any]:
    """The newest run folder of ``workflow`` under ``root/runs`` and its record."""
    from nbflow.store.runs import iter_run_dirs, read_record

    folders = list(iter_run_dirs(root / "runs", workflow))
    assert folders, f"no runs of {workflow} under {root / 'runs'}"
    return folders[-1], read_record(folders[-1])


def cell_outputs(notebook: Path, source_prefix: str) -> list[dict[str, Any]]:
    """The outputs of the first code cell of an executed notebook whose source starts
    with ``source_prefix``."""
    data = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and source.startswith(source_prefix):
            return list(cell["outputs"])
    raise AssertionError(f"{notebook}: no code cell starting with {source_prefix!r}")


def injected_parameters(notebook: Path) -> str:
    """The source of the cell papermill injected (tag ``injected-parameters``)."""
    data = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", ()):
            source = cell["source"]
            return "".join(source) if isinstance(source, list) else str(source)
    raise AssertionError(f"{notebook}: no injected-parameters cell")


def kernels_of_run(run_id: str) -> list[int]:
    """Pids of live processes started for run ``run_id`` (kernels get
    ``NBFLOW_RUN_ID`` in their environment); zombies are not counted."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("NBFLOW_RUN_ID") == run_id:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return found


def wait_until_no_kernels(run_id: str, timeout: float = 5.0) -> list[int]:
    """Poll until no process of run ``run_id`` is left; return those still alive."""
    import time

    deadline = time.monotonic() + timeout
    while (left := kernels_of_run(run_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its stdout without the final newline (fails the test on error)."""
    import subprocess

    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.rstrip("\n")


def write_run(
    root: Path,
    run_id: str,
    *,
    workflow: str = "demo",
    status: str = "succeeded",
    trigger: str = "manual",
    notebook: str = '{"cells": []}\n',
) -> tuple[Path, Any]:
    """A run folder as the runner leaves it (record, report, one notebook), without
    running a kernel; returns the folder and its RunRecord."""
    from nbflow.run_record import RunRecord, RunStatus, StepRecord, StepStatus
    from nbflow.store.runs import REPORT_FILE, write_record

    step_status = StepStatus.SUCCEEDED if status == "succeeded" else StepStatus.FAILED
    record = RunRecord(
        workflow=workflow,
        run_id=run_id,
        status=RunStatus(status),
        trigger=trigger,
        start="2026-11-23T00:00:00.000Z",
        end="2026-11-23T00:00:01.000Z",
        duration=1.0,
        steps=(
            StepRecord(id="a", status=StepStatus.SUCCEEDED, notebook="a.ipynb"),
            StepRecord(id="b", status=step_status, notebook="b.ipynb"),
        ),
    )
    folder = root / "runs" / workflow / run_id
    folder.mkdir(parents=True)
    write_record(folder, record)
    (folder / REPORT_FILE).write_text(f"# {workflow} {run_id}\n", encoding="utf-8")
    (folder / "a.ipynb").write_text(notebook, encoding="utf-8")
    (folder / "b.ipynb").write_text(notebook, encoding="utf-8")
    return folder, record


REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(relative: str, text: str) -> None:
    """Compare ``text`` with ``tests/golden/<relative>``; ``UPDATE_GOLDEN=1`` rewrites it."""
    import os

    path = GOLDEN / relative
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    expected = path.read_bytes().decode("utf-8")
    if text != expected:
        import difflib

        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"tests/golden/{relative}",
            "generated",
        )
        pytest.fail(
            f"differs from its golden copy (UPDATE_GOLDEN=1 rewrites it):\n{''.join(diff)}",
            pytrace=False,
        )


def copy_examples(root: Path) -> Path:
    """A project at ``root`` holding a copy of this repository's example workflows,
    without data left by earlier runs."""
    import shutil

    shutil.copytree(
        REPO / "workflows",
        root / "workflows",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("data", "__pycache__", ".ipynb_checkpoints"),
    )
    return root


def commit_all(repo: Path, message: str = "change") -> str:
    """Stage everything and commit it; the new commit's id."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


# -- secrets and processes, for reliability tests (and the commit-back tests) -------


def canary_forms(canary: str) -> dict[str, bytes]:
    """Every form of ``canary`` a leak check looks for: raw, URL-encoded, JSON- and
    Python-repr-escaped, and base64 (standard and URL-safe) at each of the three byte
    alignments, so a canary inside a larger base64 blob (``Basic user:TOKEN``, an
    image) is found too; each also as it is written inside a JSON file (a notebook,
    run.json), where ``"`` and ``\\`` are escaped again."""
    import base64
    from urllib.parse import quote, quote_plus

    raw = canary.encode()
    forms = {
        "raw": raw,
        "url-encoded": quote(canary, safe="").encode(),
        "url-encoded (plus)": quote_plus(canary).encode(),
        "url-encoded (path)": quote(canary).encode(),
        "json-escaped": json.dumps(canary)[1:-1].encode(),
        "repr-escaped": repr(canary)[1:-1].encode(),
        "ascii-escaped": ascii(canary)[1:-1].encode(),
        "bytes-repr-escaped": repr(raw)[2:-1].encode(),
    }
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for shift in range(3):
            # the characters of the encoding that depend only on the canary's bytes
            encoded = encode(b"\0" * shift + raw).rstrip(b"=")
            start = (shift * 8 + 5) // 6
            stop = ((shift + len(raw)) * 8) // 6
            forms[f"{name} (offset {shift})"] = encoded[start:stop]
    for name, form in list(forms.items()):
        for suffix, ascii_only in (" in JSON", False), (" in JSON (ASCII)", True):
            forms[name + suffix] = json.dumps(form.decode(), ensure_ascii=ascii_only)[1:-1].encode()
    unique: dict[bytes, str] = {}
    for name, form in forms.items():
        unique.setdefault(form, name)
    return {name: form for form, name in unique.items()}


def find_canary(path_or_bytes: Path | bytes | str, canary: str) -> list[str]:
    """Where ``canary`` occurs in a file, a folder (every file, hidden ones too) or
    some text: ``["<file>: <form>", ...]``, empty when it is nowhere."""
    if isinstance(path_or_bytes, Path):
        files = sorted(p for p in path_or_bytes.rglob("*") if p.is_file())
        if path_or_bytes.is_file():
            files = [path_or_bytes]
        chunks = [(str(p), p.read_bytes()) for p in files]
    else:
        data = path_or_bytes.encode() if isinstance(path_or_bytes, str) else path_or_bytes
        chunks = [("<data>", data)]
    forms = canary_forms(canary)
    return [
        f"{where}: {name}"
        for where, data in chunks
        for name, form in forms.items()
        if form and form in data
    ]


def assert_no_canary(path_or_bytes: Path | bytes | str, canary: str) -> None:
    """Fail naming every file and form in which ``canary`` (a secret's value) occurs:
    raw, URL-encoded or base64. Give it a run folder, a Git object dump
    (``git log -p --all`` output), captured output or a request body."""
    found = find_canary(path_or_bytes, canary)
    assert not found, "secret leaked: " + "; ".join(found)


def kernel_processes(
    *, parent: int | None = None, marker: str | None = None, templates: bool = False
) -> list[int]:
    """Pids of live ipykernel processes descended from ``parent``, or whose
    environment holds ``NBFLOW_TEST_MARKER=<marker>`` (which survives the parent's
    death: set it in the environment of the process that starts kernels, which they
    inherit). A kernel is launched (``-m ipykernel_launcher``) or forked from a
    template (process name ``ipykernel``); ``templates`` counts templates too.
    Zombies are not counted."""
    import psutil

    candidates: list[Any] = []
    if parent is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            candidates.extend(psutil.Process(parent).children(recursive=True))
    if marker is not None:
        candidates.extend(psutil.process_iter())
    found = set()
    for proc in candidates:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if not _is_kernel(proc, templates):
                continue
            if marker is None or proc.environ().get("NBFLOW_TEST_MARKER") == marker:
                found.add(proc.pid)
        except (psutil.Error, OSError):
            continue
    return sorted(found)


def _is_kernel(proc: Any, templates: bool) -> bool:
    from nbflow.engine import forkserver

    command = " ".join(proc.cmdline())
    if forkserver.LAUNCHER in command and forkserver.MARKER not in command:
        return True
    if forkserver.MARKER in command:
        return templates or proc.name() == forkserver.KERNEL_NAME.decode()
    return False


def wait_for_no_kernel_processes(
    *, parent: int | None = None, marker: str | None = None, timeout: float = 5.0
) -> list[int]:
    """Poll :func:`kernel_processes` until none is left; return those still alive."""
    import time

    deadline = time.monotonic() + timeout

    def left_behind() -> list[int]:
        return kernel_processes(parent=parent, marker=marker, templates=True)

    while (left := left_behind()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


# -- a local webhook receiver (notifications) ------------------------------------------


@dataclass
class Receiver:
    """A local HTTP server standing in for a webhook: answers each POST with
    ``status`` after ``delay`` seconds, and keeps the path and JSON body of each
    (``posts``) and the raw request line, headers and body (``requests``)."""

    port: int = 0
    status: int = 200
    delay: float = 0.0
    posts: list[tuple[str, Any]] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def serve_receiver() -> Iterator[Receiver]:
    """Run a :class:`Receiver` on a free loopback port for the duration."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(state.delay)
            state.requests.append(self.requestline.encode() + bytes(self.headers) + body)
            state.posts.append((self.path, json.loads(body or b"null")))
            self.send_response(state.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def branching_workflow(folder: Path, name: str = "branching") -> Path:
    """a → b, a → c → d (fails) → e, plus an independent f: outputs through
    expressions, ${{ run.id }} and ${{ run.date }}, a failure and a skipped step; f's
    ``label`` comes from its ``parameters:`` unless ``-p label=...`` is given."""
    write_notebook(folder / "a.ipynb", "n = 0", ["import nbflow\nnbflow.record('total', n * 2)"])
    write_notebook(
        folder / "b.ipynb",
        "count = 0\nrun_id = ''",
        ["import nbflow\nnbflow.record('count', count + 1)\nnbflow.record('run_id', run_id)"],
    )
    write_notebook(
        folder / "c.ipynb",
        "label = 'notebook'\ngreeting = ''",
        ["import nbflow\nnbflow.record('greeting', greeting)"],
    )
    write_notebook(folder / "d.ipynb", "total = 0", ["raise ValueError(f'bad total {total}')"])
    write_notebook(folder / "e.ipynb", None, ["1"])
    write_notebook(
        folder / "f.ipynb", "label = ''", ["import nbflow\nnbflow.record('label', label)"]
    )
    return write_manifest(
        folder,
        f"""
        name: {name}
        parameters:
          limit: {{type: int, default: 3}}
          label: {{type: str, default: hello}}
        steps:
          - id: a
            notebook: a.ipynb
            parameters: {{n: "${{{{ params.limit }}}}"}}
          - id: b
            notebook: b.ipynb
            parameters:
              count: "${{{{ steps.a.outputs.total }}}}"
              run_id: "${{{{ run.id }}}}"
          - id: c
            notebook: c.ipynb
            needs: [a]
            parameters: {{greeting: "${{{{ params.label }}}} on ${{{{ run.date }}}}"}}
          - id: d
            notebook: d.ipynb
            needs: [c]
            parameters: {{total: "${{{{ steps.a.outputs.total }}}}"}}
          - id: e
            notebook: e.ipynb
            needs: [d]
          - id: f
            notebook: f.ipynb
            needs: []
            parameters: {{label: from the manifest}}
        """,
    )


def comparable(record: Any) -> list[tuple[Any, ...]]:
    """What two runs of the same workflow share: per step, status, reason, injected
    parameters, outputs, error, and a foreach step's items (run ids replaced by RUN)."""
    text = json.dumps(
        [
            (
                s.id,
                s.status.value,
                s.reason,
                s.parameters,
                s.outputs,
                s.error and s.error.summary,
                [(i.value, i.status.value, i.parameters, i.outputs) for i in s.items],
            )
            for s in record.steps
        ]
    )
    return list(map(tuple, json.loads(text.replace(record.run_id, "RUN"))))


def sweep_workflow(folder: Path, foreach: str, *, extra: str = "") -> Path:
    """prepare records ``regions``; ``region`` runs once per item of ``foreach``;
    combine receives the list of totals."""
    write_notebook(
        folder / "prepare.ipynb",
        "",
        ["import nbflow\nnbflow.record('regions', ['eu', 'us', 'apac'])"],
    )
    write_notebook(
        folder / "region.ipynb",
        "region = 'eu'\nposition = -1",
        [
            "import nbflow, time\n"
            "assert region != 'boom', 'no such region'\n"
            "time.sleep(float(__import__('os').environ.get('SWEEP_SLEEP', '0')))\n"
            "nbflow.record('total', len(region) * 10 + position)"
        ],
    )
    write_notebook(
        folder / "combine.ipynb",
        "totals = []",
        ["import nbflow\nnbflow.record('sum', sum(totals))"],
    )
    return write_manifest(
        folder,
        f"""
        name: sweep
        parameters:
          regions: {{type: list, default: [eu, us, apac]}}
        steps:
          - id: prepare
            notebook: prepare.ipynb
          - id: region
            notebook: region.ipynb
            foreach: {foreach}
            parameters: {{region: "${{{{ item }}}}", position: "${{{{ item.index }}}}"}}
          - id: combine
            notebook: combine.ipynb
            parameters: {{totals: "${{{{ steps.region.outputs.total }}}}"}}
        {extra}
        """,
    )


def install_kernelspec(jupyter: Path, name: str, before_start: str = "") -> Path:
    """A kernelspec ``name`` under ``jupyter/kernels`` (put ``jupyter`` on JUPYTER_PATH)
    starting ipykernel with this Python, after running ``before_start`` (Python source
    with ``sys`` and ``pathlib`` imported) in the kernel's process."""
    import sys

    spec = jupyter / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "launch.py").write_text(
        "import pathlib, runpy, sys, time\n"
        f"{before_start}\n"
        "sys.argv = ['ipykernel_launcher', *sys.argv[1:]]\n"
        "runpy.run_module('ipykernel_launcher', run_name='__main__')\n",
        encoding="utf-8",
    )
    argv = [sys.executable, str(spec / "launch.py"), "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": name, "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return spec


def chain_workflow(folder: Path) -> Path:
    """a → b → c: a records an int, b receives it through ${{ steps.a.outputs.total }}."""
    write_notebook(folder / "a.ipynb", "n = 0", ["import nbflow\nnbflow.record('total', n * 2)"])
    write_notebook(
        folder / "b.ipynb",
        "count = 0\nrun_id = ''",
        [
            "import nbflow\n"
            "nbflow.record('count_type', type(count).__name__)\n"
            "nbflow.record('count', count + 1)\n"
            "nbflow.record('run_id', run_id)"
        ],
    )
    write_notebook(
        folder / "c.ipynb",
        "label = 'notebook'\ngreeting = ''",
        ["import nbflow\nnbflow.record('label', label)\nnbflow.record('greeting', greeting)"],
    )
    return write_manifest(
        folder,
        """
        name: chain
        parameters:
          limit: {type: int, default: 3}
          label: {type: str, default: hello}
        steps:
          - id: a
            notebook: a.ipynb
            parameters: {n: "${{ params.limit }}"}
          - id: b
            notebook: b.ipynb
            parameters:
              count: "${{ steps.a.outputs.total }}"
              run_id: "${{ run.id }}"
          - id: c
            notebook: c.ipynb
            parameters: {greeting: "${{ params.label }} on ${{ run.date }}"}
        """,
    )


# Two runs of one workflow, for nbflow diff and the report's notebook changes.

IMAGE = (
    "import base64\n"
    "from IPython.display import display\n"
    "png = base64.b64encode(bytes([n]) * 60).decode()\n"
    "display({'image/png': png, 'text/plain': '<Figure>'}, raw=True)"
)


def diff_workflow(project: Path) -> Path:
    """``fit``: prints n, prints a constant, shows an image made from n; ``other``
    prints a constant."""
    folder = project / "workflows" / "demo"
    write_notebook(
        folder / "fit.ipynb",
        "n = 1",
        ["print('score', n * 10)", "print('constant')", IMAGE],
    )
    write_notebook(folder / "other.ipynb", None, ["print('always the same')"])
    write_manifest(
        folder,
        """
        name: demo
        parameters:
          n: {type: int, default: 1}
        steps:
          - id: fit
            notebook: fit.ipynb
            parameters: {n: "${{ params.n }}"}
          - id: other
            notebook: other.ipynb
        """,
    )
    return folder


def two_runs(project: Path, first: str, second: str) -> list[Path]:
    """The folders of two runs of ``diff_workflow``, with ``n`` = ``first``, ``second``."""
    from nbflow.cli import main
    from nbflow.store.runs import iter_run_dirs

    diff_workflow(project)
    assert main(["run", "demo", "-p", f"n={first}"]) == 0
    assert main(["run", "demo", "-p", f"n={second}"]) == 0
    return list(iter_run_dirs(project / "runs", "demo"))


def daily_workflow(
    project: Path, name: str = "daily", schedule: str | None = '["0 0 * * *"]'
) -> Path:
    """``workflows/<name>``: ``run_date`` (default today) reaches ``day.ipynb``, which
    records it and fails while ``fail-<run_date>`` exists in the workflow folder."""
    folder = project / "workflows" / name
    write_notebook(
        folder / "day.ipynb",
        'run_date = "2000-01-01"',
        [
            "import pathlib\n"
            "assert not pathlib.Path(f'fail-{run_date}').exists(), f'told to fail on {run_date}'",
            "import nbflow\nnbflow.record('day', str(run_date))",
        ],
    )
    on = f"on:\n  schedule: {schedule}\n" if schedule else ""
    write_manifest(
        folder,
        f"name: {name}\n{on}parameters:\n  run_date: {{type: date, default: today}}\n"
        "steps:\n  - id: day\n    notebook: day.ipynb\n",
    )
    return folder


#: How long a test waits for a process to reach a point it marks with a file (a
#: notebook's first cell writing ``started``): kernels start in seconds on a quiet
#: machine and took over 30 s at load 25; the wait ends as soon as the file is there.
STARTUP_TIMEOUT = 300.0
#: How long a test gives a signalled run to end: 2-3 s measured at load 20, against
#: cells that sleep 600 s (or block until told), so ending in time shows the signal
#: cut the cell short.
STOP_TIMEOUT = 120.0


def wait_for(
    path: Path, proc: subprocess.Popen[str] | None = None, timeout: float = STARTUP_TIMEOUT
) -> None:
    """Wait until ``path`` exists; fail if ``proc`` ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None:
            assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared in {timeout:g} s"
        time.sleep(0.05)
