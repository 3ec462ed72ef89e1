"""Installing the example workflows' dependencies into a fresh environment: pip
against uv, as the generated GitHub Actions jobs do on a fresh runner.
Usage: ``python bench/install.py [REPEAT]``; needs ``uv`` on PATH, beside this
Python, or in $UV (``pip install uv``), and access to PyPI.

The packages are nbflow's dependencies plus the ``examples`` extra (duckdb), read
from pyproject.toml: what ``pip install -e ".[examples]"`` installs, without
building nbflow itself. Each sample installs into a new virtualenv (made untimed;
pip upgraded in it first, as setup-python's is current); only the install command
is timed, with no cache at all (``--no-cache-dir`` / ``--no-cache``): a fresh
runner without a cache hit, everything downloaded from PyPI. pip reads no
configuration file (``PIP_CONFIG_FILE`` is the null device: this machine's pip.conf
adds local wheel folders and constraints that uv would not see), so both resolve
from PyPI alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from common import PYTHON, ROOT, compare, load, machine, table


def requirements() -> list[str]:
    """nbflow's dependencies and its examples extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["examples"]]


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
        if self.tool == "pip":
            return [python, "-m", "pip", "install", "-q", "--no-cache-dir", *requirements()]
        return [uv(), "pip", "install", "-q", "--no-cache", "--python", python, *requirements()]

    def __call__(self) -> float:
        folder = self.venv()
        took = timed(self.command(folder))
        shutil.rmtree(folder)
        return took


def main(repeat: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="nbflow-bench-install-"))
    actions: dict[str, Callable[[], float]] = {
        "pip install --no-cache-dir": Contender(work, "pip"),
        "uv pip install --no-cache": Contender(work, "uv"),
    }
    rows = compare(repeat, actions)
    print(f"## installing {len(requirements())} requirements ({machine()}; {load()})\n")
    print(table(rows, "uv pip install --no-cache"))
    shutil.rmtree(work)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
