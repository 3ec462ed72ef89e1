"""Command-line start-up: ``nbflow validate`` on a 1,000-step manifest, and
``nbflow --help``. Usage: ``python bench/cli.py [REPEAT]``."""

from __future__ import annotations

import sys

from common import PYTHON, compare, load, machine, notebook, project, run, table

STEPS = 1000


def main(repeat: int) -> None:
    nbs = {f"s{i}.ipynb": notebook(["x = p + 1"], "p = 0") for i in range(STEPS)}
    steps = "".join(
        f"  - {{id: s{i}, notebook: s{i}.ipynb, parameters: {{p: {i}}}}}\n" for i in range(STEPS)
    )
    root = project("big", f"name: big\nsteps:\n{steps}", nbs)
    contenders = {
        "python -c pass (interpreter start)": lambda: run([PYTHON, "-c", "pass"], root),
        "nbflow --help": lambda: run([PYTHON, "-m", "nbflow", "--help"], root, check=False),
        f"nbflow validate ({STEPS} steps)": lambda: run([PYTHON, "-m", "nbflow", "validate"], root),
    }
    rows = compare(repeat, contenders)
    print(f"## command line ({machine()}; {load()})\n")
    print(table(rows, "python -c pass (interpreter start)"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
