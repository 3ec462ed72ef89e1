"""N independent steps (8 unless told) that each sleep 1 s, ``--jobs N``: nbflow vs
Ploomber's parallel executor vs the ideal (1 s + one kernel start + starting the
command). Usage: ``python bench/fanout.py [REPEAT] [N]`` (issue 16 asks for 8 and
32); PLOOMBER=/path/to/ploomber to include it. Below the table, nbflow's CPU split
between its own process and its children (the kernel template and the kernels)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import (
    LAUNCHED,
    PYTHON,
    compare,
    load,
    machine,
    notebook,
    ploomber,
    ploomber_project,
    project,
    run,
    table,
)

CELLS = ["import time\ntime.sleep(1)"]

KERNEL_START = """
import time
t = time.perf_counter()
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
print(time.perf_counter() - t)
km.shutdown_kernel(now=True)
"""


# `nbflow run` as `python -m nbflow` runs it, writing its CPU and its children's
SPLIT = """
import os, resource, sys
from nbflow.cli import main
code = main(sys.argv[1:])
own, rest = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
if os.environ.get("NBFLOW_BENCH_SPLIT"):
    with open(os.environ["NBFLOW_BENCH_SPLIT"], "a") as out:
        print(own.ru_utime + own.ru_stime, rest.ru_utime + rest.ru_stime, file=out)
sys.exit(code)
"""


def split(path: Path) -> str:
    """The median CPU of nbflow's process and of its children, from ``path``."""
    rows = [[float(x) for x in line.split()] for line in path.read_text().splitlines()]
    own, rest = (statistics.median(column) for column in zip(*rows, strict=True))
    return f"nbflow's CPU: its own process {own:.2f} s, template and kernels {rest:.2f} s"


def ideal(root: object) -> float:
    """1 s of sleep + one kernel start (to ready) + an interpreter start."""
    import subprocess

    from common import env

    out = subprocess.run([PYTHON, "-c", KERNEL_START], env=env(), capture_output=True, text=True)
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", "pass"], env=env())
    return 1.0 + float(out.stdout.strip()) + (time.perf_counter() - start)


def main(repeat: int, count: int = 8) -> None:
    nbs = {f"s{i}.ipynb": notebook(CELLS, "p = 0") for i in range(count)}
    steps = "".join(f"  - {{id: s{i}, notebook: s{i}.ipynb, needs: []}}\n" for i in range(count))
    root = project("fan", f"name: fan\nsteps:\n{steps}", nbs)
    command = [PYTHON, "-c", SPLIT, "run", "fan", "--jobs", str(count)]
    cpu_split = Path(tempfile.mkdtemp(prefix="nbflow-bench-split-")) / "cpu.txt"
    contenders = {
        f"nbflow run --jobs {count}": lambda: run(
            command, root, extra_env={"NBFLOW_BENCH_SPLIT": str(cpu_split)}
        ),
        f"nbflow run --jobs {count}, kernels launched": lambda: run(
            command, root, extra_env=LAUNCHED
        ),
        "ideal (1 s + one kernel start)": lambda: ideal(root),
    }
    if exe := ploomber():
        pl = ploomber_project("fan", count, CELLS, chained=False, parallel=True)
        contenders["ploomber build --force (parallel)"] = lambda: run(
            [exe, "build", "--force"], pl, tolerate=True
        )
    else:
        print("ploomber skipped: set PLOOMBER to a ploomber executable (separate venv)")
    rows = compare(repeat, contenders)
    print(f"## fan-out: {count} independent 1 s steps ({machine()}; {load()})\n")
    print(table(rows, "ideal (1 s + one kernel start)"))
    print(f"\n{split(cpu_split)} (nbflow run --jobs {count}, median of {repeat})")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3] or ["5"]))
