"""Time to the first step on a fresh CI runner: from an empty environment to the
first step of an example workflow running, pip against uv.
Usage: ``python bench/install.py [REPEAT]``; needs ``uv`` on PATH, beside this
Python, or in $UV (``pip install uv``), and access to PyPI.

What is timed is the generated job's path for nbflow's own repository
(nbflow/github/install.py): ``uv pip install -e ".[examples]"`` (nbflow built from
this checkout, its dependencies and duckdb; pip: ``pip install -e ".[examples]"``),
then ``nbflow run regional-sales`` in a fresh clone of the workflows, until it
prints that its first step is running. Each sample installs into a new virtualenv
(made untimed; pip upgraded in it first, as setup-python's is current), with no
cache at all (``--no-cache-dir`` / ``--no-cache``): a fresh runner without a cache
hit, everything downloaded from PyPI. The install and the start of the run are
also shown apart. pip reads no
configuration file (``PIP_CONFIG_FILE`` is the null device: this machine's pip.conf
adds local wheel folders and constraints that uv would not see), so both resolve
from PyPI alone.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import PYTHON, ROOT, compare, load, machine, table

WORKFLOW = "regional-sales"
PHASES: dict[str, list[tuple[float, float]]] = {}  # tool → (install, run start) per sample


def checkout(work: Path) -> Path:
    """The example workflows in a new Git repository, as a runner's checkout."""
    folder = Path(tempfile.mkdtemp(prefix="checkout-", dir=work))
    (folder / "nbflow.yaml").write_text("runs_dir: runs\n", encoding="utf-8")
    shutil.copytree(
        ROOT / "workflows" / WORKFLOW,
        folder / "workflows" / WORKFLOW,
        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
    )
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "checkout"]):
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=folder)
    return folder


def until_first_step(venv: Path, folder: Path) -> float:
    """Start ``nbflow run WORKFLOW``; seconds until it says a step is running (then
    it is stopped)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(venv / "bin" / "nbflow"), "run", WORKFLOW],
        cwd=folder,
        env={**clean_env(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.rstrip().endswith(" running"):
            took = time.perf_counter() - start
            proc.kill()
            proc.wait()
            return took
    proc.wait()
    raise SystemExit(f"nbflow run {WORKFLOW} ended ({proc.returncode}) before a step ran")


def uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = os.environ.get("UV") or (str(beside) if beside.is_file() else shutil.which("uv"))
    if not found:
        raise SystemExit("uv not found: pip install uv, or set UV to its path")
    return found


def clean_env() -> dict[str, str]:
    """No pip configuration, no index or cache settings from this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if cert := os.environ.get("PIP_CERT"):  # the machine's CA bundle, for both tools
        env["SSL_CERT_FILE"] = env["PIP_CERT"] = cert
    return env


def timed(args: list[str]) -> float:
    """Run a command in :func:`clean_env`; its wall-clock seconds."""
    start = time.perf_counter()
    done = subprocess.run(args, env=clean_env(), capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-1500:]}")
    return took


class Contender:
    """One tool; each call installs into a new virtualenv, without any cache."""

    def __init__(self, work: Path, tool: str) -> None:
        self.work, self.tool, self.count = work, tool, 0

    def venv(self) -> Path:
        self.count += 1
        folder = self.work / f"{self.tool}-{self.count}"
        timed([PYTHON, "-m", "venv", str(folder)])
        if self.tool == "pip":  # setup-python's pip is current
            timed([str(folder / "bin" / "python"), "-m", "pip", "install", "-q", "-U", "pip"])
        return folder

    def command(self, folder: Path) -> list[str]:
        python = str(folder / "bin" / "python")
        editable = ["-e", f"{ROOT}[examples]"]
        if self.tool == "pip":
            return [python, "-m", "pip", "install", "-q", "--no-cache-dir", *editable]
        return [uv(), "pip", "install", "-q", "--no-cache", "--python", python, *editable]

    def __call__(self) -> float:
        folder, clone = self.venv(), checkout(self.work)
        install = timed(self.command(folder))
        first = until_first_step(folder, clone)
        PHASES.setdefault(self.tool, []).append((install, first))
        shutil.rmtree(folder)
        shutil.rmtree(clone)
        return install + first


def main(repeat: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="nbflow-bench-install-"))
    actions: dict[str, Callable[[], float]] = {
        "pip install -e .[examples], then first step": Contender(work, "pip"),
        "uv pip install -e .[examples], then first step": Contender(work, "uv"),
    }
    rows = compare(repeat, actions)
    print(f"## time to the first step of {WORKFLOW} ({machine()}; {load()})\n")
    print(table(rows, "uv pip install -e .[examples], then first step"))
    print("\n| tool | install (s), median | run start to first step (s), median |")
    print("|---|---:|---:|")
    for tool, phases in PHASES.items():
        install, first = (statistics.median(p[i] for p in phases) for i in (0, 1))
        print(f"| {tool} | {install:.2f} | {first:.2f} |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
