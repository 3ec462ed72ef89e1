"""Shared helpers for the benchmarks: build throw-away projects, time commands.

Every benchmark builds its project in a temporary folder, times each contender
end to end as a user would start it (a fresh process), repeats, and prints the
median. Run from anywhere: ``python bench/chain.py``.
"""

from __future__ import annotations

import compileall
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# Measured as users run it: with bytecode caches. A shell with PYTHONDONTWRITEBYTECODE
# set (as some CI images and this project's sandboxes do) would otherwise compile
# every changed module of the checkout again in every sample (~60 ms for a no-op).
compileall.compile_dir(ROOT / "nbflow", quiet=1)


def env() -> dict[str, str]:
    """The environment every contender runs in: this checkout's nbflow importable."""
    result = dict(os.environ)
    result["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), result.get("PYTHONPATH")]))
    result.pop("CI", None)
    result.pop("PYTHONDONTWRITEBYTECODE", None)
    result.pop("GITHUB_ACTIONS", None)
    return result


LAUNCHED = {"NBFLOW_FORK_KERNELS": "0"}  # nbflow with every kernel launched, not forked


def notebook(cells: Iterable[str], parameters: str | None = None) -> dict[str, object]:
    """A minimal nbformat-4 notebook: an optional parameters cell, then code cells."""
    all_cells = []
    if parameters is not None:
        all_cells.append(_cell(parameters, ["parameters"], 0))
    all_cells += [_cell(src, [], i + 1) for i, src in enumerate(cells)]
    return {
        "cells": all_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _cell(source: str, tags: list[str], index: int) -> dict[str, object]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"cell-{index}",
        "metadata": {"tags": tags},
        "outputs": [],
        "source": source,
    }


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def project(name: str, manifest: str, notebooks: dict[str, dict[str, object]]) -> Path:
    """A temporary nbflow project with one workflow; returns the project root."""
    root = Path(tempfile.mkdtemp(prefix=f"nbflow-bench-{name}-"))
    (root / "nbflow.yaml").write_text("runs_dir: runs\n", encoding="utf-8")
    folder = root / "workflows" / name
    folder.mkdir(parents=True)
    (folder / "workflow.yaml").write_text(manifest, encoding="utf-8")
    for file, data in notebooks.items():
        write_json(folder / file, data)
    return root


#: CPU seconds (user + system) of the commands :func:`run` has waited for, their
#: children included: on a loaded machine the steadier figure (wall time waits for
#: the other engineers' work too).
CPU_SPENT = [0.0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    args: list[str],
    cwd: Path,
    check: bool = True,
    tolerate: bool = False,
    extra_env: dict[str, str] | None = None,
) -> float:
    """Run a command; return its wall-clock seconds (inf for a tolerated failure)."""
    start, cpu = time.perf_counter(), _children_cpu()
    command_env = {**env(), **(extra_env or {})}
    proc = subprocess.run(args, cwd=cwd, env=command_env, capture_output=True, text=True)
    took = time.perf_counter() - start
    CPU_SPENT[0] += _children_cpu() - cpu
    if check and proc.returncode != 0:
        message = f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-1500:]}"
        if not tolerate:
            raise SystemExit(message)
        print(f"<!-- sample failed, counted as inf: {message.splitlines()[0]} -->", file=sys.stderr)
        return float("inf")
    return took


def median_of(
    repeat: int, action: Callable[[], float], before: Callable[[], None] | None = None
) -> tuple[float, list[float]]:
    """Median and all samples of ``repeat`` timings of ``action`` (``before`` untimed)."""
    samples = []
    for _ in range(repeat):
        if before:
            before()
        samples.append(action())
    return statistics.median(samples), samples


def machine() -> str:
    """nproc, CPU model and Python version, for the results table."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


def ploomber() -> str | None:
    """The ``ploomber`` executable from $PLOOMBER (or on PATH), or None to skip it."""
    given = os.environ.get("PLOOMBER") or shutil.which("ploomber")
    return given if given and Path(given).exists() else None


#: Median CPU seconds of each contender :func:`compare` timed (see CPU_SPENT).
CPU_MEDIANS: dict[str, float] = {}


def table(rows: list[tuple[str, float, list[float]]], baseline: str) -> str:
    """A Markdown table of medians, with each contender's ratio to ``baseline``, and
    its median CPU time when :func:`compare` measured it."""
    base = next(m for name, m, _ in rows if name == baseline)
    lines = [
        "| contender | median (s) | samples (s) | vs " + baseline + " | CPU (s) |",
        "|---|---:|---|---:|---:|",
    ]
    for name, med, samples in rows:
        shown = ", ".join(f"{s:.2f}" for s in samples)
        cpu = f"{CPU_MEDIANS[name]:.2f}" if name in CPU_MEDIANS else ""
        lines.append(f"| {name} | {med:.2f} | {shown} | {med / base:.2f}× | {cpu} |")
    return "\n".join(lines)


def chain_manifest(name: str, count: int, extra: str = "") -> str:
    """A manifest of ``count`` steps s0 → s1 → … (each needs the one above)."""
    steps = "".join(f"  - {{id: s{i}, notebook: s{i}.ipynb}}\n" for i in range(count))
    return f"name: {name}\n{extra}steps:\n{steps}"


def ploomber_project(
    name: str, count: int, cells: list[str], *, chained: bool, parallel: bool = False
) -> Path:
    """A Ploomber pipeline of ``count`` notebook tasks (a chain, or independent)."""
    root = Path(tempfile.mkdtemp(prefix=f"ploomber-bench-{name}-"))
    tasks = []
    for i in range(count):
        upstream = f"['s{i - 1}']" if chained and i else "None"
        write_json(root / f"s{i}.ipynb", notebook(cells, f"upstream = {upstream}\nproduct = None"))
        tasks.append(f"  - source: s{i}.ipynb\n    name: s{i}\n    product: out/s{i}.ipynb\n")
    executor = "executor: parallel\n" if parallel else ""
    (root / "pipeline.yaml").write_text(executor + "tasks:\n" + "".join(tasks), encoding="utf-8")
    return root


def compare(
    repeat: int, contenders: dict[str, Callable[[], float]]
) -> list[tuple[str, float, list[float]]]:
    """Time every contender ``repeat`` times, round-robin, so that load from other
    processes falls on all of them alike; rows for :func:`table`."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, action in contenders.items():
            before = CPU_SPENT[0]
            samples[name].append(action())
            cpu[name].append(CPU_SPENT[0] - before)
    CPU_MEDIANS.update({name: statistics.median(c) for name, c in cpu.items()})
    return [(name, statistics.median(s), s) for name, s in samples.items()]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"
