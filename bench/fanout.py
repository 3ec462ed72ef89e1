"""8 independent steps that each sleep 1 s, ``--jobs 8``: nbflow vs Ploomber's
parallel executor vs the ideal (1 s + one kernel start + starting the command).
Usage: ``python bench/fanout.py [REPEAT]``; PLOOMBER=/path/to/ploomber to include it."""

from __future__ import annotations

import sys
import time

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

STEPS = 8
CELLS = ["import time\ntime.sleep(1)"]

KERNEL_START = """
import time
t = time.perf_counter()
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
print(time.perf_counter() - t)
km.shutdown_kernel(now=True)
"""


def ideal(root: object) -> float:
    """1 s of sleep + one kernel start (to ready) + an interpreter start."""
    import subprocess

    from common import env

    out = subprocess.run([PYTHON, "-c", KERNEL_START], env=env(), capture_output=True, text=True)
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", "pass"], env=env())
    return 1.0 + float(out.stdout.strip()) + (time.perf_counter() - start)


def main(repeat: int) -> None:
    nbs = {f"s{i}.ipynb": notebook(CELLS, "p = 0") for i in range(STEPS)}
    steps = "".join(f"  - {{id: s{i}, notebook: s{i}.ipynb, needs: []}}\n" for i in range(STEPS))
    root = project("fan", f"name: fan\nsteps:\n{steps}", nbs)
    command = [PYTHON, "-m", "nbflow", "run", "fan", "--jobs", str(STEPS)]
    contenders = {
        "nbflow run --jobs 8": lambda: run(command, root),
        "nbflow run --jobs 8, kernels launched": lambda: run(command, root, extra_env=LAUNCHED),
        "ideal (1 s + one kernel start)": lambda: ideal(root),
    }
    if exe := ploomber():
        pl = ploomber_project("fan", STEPS, CELLS, chained=False, parallel=True)
        contenders["ploomber build --force (parallel)"] = lambda: run(
            [exe, "build", "--force"], pl, tolerate=True
        )
    else:
        print("ploomber skipped: set PLOOMBER to a ploomber executable (separate venv)")
    rows = compare(repeat, contenders)
    print(f"## fan-out: {STEPS} independent 1 s steps ({machine()}; {load()})\n")
    print(table(rows, "ideal (1 s + one kernel start)"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
