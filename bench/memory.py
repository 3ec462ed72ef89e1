"""nbflow's own memory over a long run: peak RSS of the nbflow process (kernels
excluded) running a trivial chain of 50 and of 200 steps, in-process.
Usage: ``python bench/memory.py``."""

from __future__ import annotations

import subprocess

from common import PYTHON, chain_manifest, env, load, machine, notebook, project

PROBE = """
import resource, sys, time
from pathlib import Path
import psutil
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.load import load_manifest
start = time.perf_counter()
record = run_workflow(load_manifest(Path(sys.argv[1])), RunOptions(jobs=2))
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
now = psutil.Process().memory_info().rss / 2**20
print(f"{record.status.value} {took:.1f} {peak:.0f} {now:.0f}")
"""


def main() -> None:
    print(f"## nbflow's memory ({machine()}; {load()})\n")
    print("| steps | status | run (s) | s/step | peak RSS (MiB) | RSS at end (MiB) |")
    print("|---:|---|---:|---:|---:|---:|")
    for steps in (50, 200):
        nbs = {f"s{i}.ipynb": notebook(["x = p + 1"], "p = 0") for i in range(steps)}
        root = project(f"mem{steps}", chain_manifest(f"mem{steps}", steps), nbs)
        manifest = root / "workflows" / f"mem{steps}" / "workflow.yaml"
        out = subprocess.run(
            [PYTHON, "-c", PROBE, str(manifest)],
            cwd=root,
            env=env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        status, took, peak, now = out
        print(f"| {steps} | {status} | {took} | {float(took) / steps:.2f} | {peak} | {now} |")


if __name__ == "__main__":
    main()
