"""10-step chain of trivial notebooks: nbflow vs papermill (one process, and a loop
of commands) vs ``ploomber build``. Usage: ``python bench/chain.py [REPEAT]``;
set PLOOMBER=/path/to/ploomber (a separate venv) to include Ploomber."""

from __future__ import annotations

import sys
from pathlib import Path

from common import (
    LAUNCHED,
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

STEPS = 10
CELLS = ["x = p + 1", "x"]

IN_PROCESS = """
import sys, papermill
folder, out = sys.argv[1], sys.argv[2]
for i in range(int(sys.argv[3])):
    papermill.execute_notebook(f"{folder}/s{i}.ipynb", f"{out}/s{i}.ipynb",
                               parameters={"p": i}, progress_bar=False)
"""


def main(repeat: int) -> None:
    nbs = {f"s{i}.ipynb": notebook(CELLS, "p = 0") for i in range(STEPS)}
    root = project("chain", chain_manifest("chain", STEPS), nbs)
    folder, out = root / "workflows" / "chain", root / "out"
    out.mkdir()
    nbflow = [PYTHON, "-m", "nbflow", "run", "chain"]
    script = [PYTHON, "-c", IN_PROCESS, str(folder), str(out), str(STEPS)]
    contenders = {
        "nbflow run": lambda: run(nbflow, root),
        "nbflow run, kernels launched": lambda: run(nbflow, root, extra_env=LAUNCHED),
        "papermill, one process": lambda: run(script, root),
    }
    papermill = str(Path(PYTHON).with_name("papermill"))

    def loop() -> float:
        return sum(
            run(
                [
                    papermill,
                    f"{folder}/s{i}.ipynb",
                    f"{out}/s{i}.ipynb",
                    "-p",
                    "p",
                    str(i),
                    "--no-progress-bar",
                ],
                root,
            )
            for i in range(STEPS)
        )

    contenders["loop of papermill commands"] = loop
    if exe := ploomber():
        pl = ploomber_project("chain", STEPS, ["x = 1", "x"], chained=True)
        build = [exe, "build", "--force"]
        contenders["ploomber build --force"] = lambda: run(build, pl, tolerate=True)
    else:
        print("ploomber skipped: set PLOOMBER to a ploomber executable (separate venv)")
    rows = compare(repeat, contenders)
    print(f"## {STEPS}-step chain ({machine()}; {load()})\n")
    print(table(rows, "nbflow run"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
