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

#: The floor: one live kernel runs all the notebooks in turn (no isolation between
#: steps, no papermill): each notebook read, its parameter set, its cells executed,
#: their outputs kept and the notebook written.
ONE_KERNEL = """
import json, sys
from jupyter_client.manager import start_new_kernel
folder, out, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
km, kc = start_new_kernel(kernel_name="python3")
try:
    for i in range(count):
        nb = json.load(open(f"{folder}/s{i}.ipynb"))
        nb["cells"][0]["source"] += f"\\np = {i}"
        for cell in nb["cells"]:
            outputs = []
            reply = kc.execute_interactive(cell["source"], output_hook=outputs.append, timeout=60)
            if reply["content"]["status"] != "ok":
                raise SystemExit(f"s{i}: {reply['content']}")
            kept = ("stream", "execute_result", "display_data", "error")
            cell["outputs"] = [o["content"] for o in outputs if o["msg_type"] in kept]
        json.dump(nb, open(f"{out}/s{i}.ipynb", "w"))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
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
        "floor: one kernel, no isolation": lambda: run(
            [PYTHON, "-c", ONE_KERNEL, str(folder), str(out), str(STEPS)], root
        ),
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
    floor = next(m for name, m, _ in rows if name.startswith("floor"))
    nbflow_median = next(m for name, m, _ in rows if name == "nbflow run")
    print(f"\nnbflow run / floor: {nbflow_median / floor:.2f}× (target ≤ 1.4×)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
