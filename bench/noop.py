"""No-op rerun of a 100-step workflow (nothing changed, caching on) vs Ploomber's
no-op build. Usage: ``python bench/noop.py [REPEAT]``; PLOOMBER=… to include it.
The first (untimed) run of each executes all 100 notebooks."""

from __future__ import annotations

import sys

from common import (
    PYTHON,
    chain_manifest,
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

STEPS = 100


def main(repeat: int) -> None:
    nbs = {f"s{i}.ipynb": notebook(["x = p + 1"], "p = 0") for i in range(STEPS)}
    root = project("noop", chain_manifest("noop", STEPS, "defaults: {cache: true}\n"), nbs)
    command = [PYTHON, "-m", "nbflow", "run", "noop"]
    run(command, root)
    contenders = {"nbflow run (all cached)": lambda: run(command, root)}
    if exe := ploomber():
        pl = ploomber_project("noop", STEPS, ["x = 1"], chained=True)
        run([exe, "build"], pl)
        contenders["ploomber build (nothing outdated)"] = lambda: run(
            [exe, "build"], pl, tolerate=True
        )
    else:
        print("ploomber skipped: set PLOOMBER to a ploomber executable (separate venv)")
    rows = compare(repeat, contenders)
    print(f"## no-op rerun, {STEPS} steps ({machine()}; {load()})\n")
    print(table(rows, "nbflow run (all cached)"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
