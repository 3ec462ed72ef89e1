"""nbflow's own cost per step as a workflow grows: chains of 10, 100 and 1,000
trivial steps. Usage: ``python bench/steps.py [REPEAT] [SIZES…]`` (default 3;
10 100 1000).

Three measures, because "nbflow's own time" has no single honest figure:

- **cached rerun, wall / step**: every step's result is reused (caching on, nothing
  changed), so no kernel runs at all: what is left is nbflow's bookkeeping per step
  (fingerprints, the cache lookup, the notebook copy, the record).
- **executed run, nbflow CPU / step**: the first run executes every notebook; the CPU
  time of nbflow's own process (``RUSAGE_SELF``: kernels are other processes and are
  not counted), which includes papermill and nbclient working in that process.
- **executed run, wall not in a kernel / step**: the run's wall time less the time
  kernels spent executing cells (from each cell's ``execute_input`` to its
  ``execute_reply``, recorded in run.json): what a user waits for beyond their own
  code — this includes starting each step's kernel (a fork), so it is above the
  other two.

Each size runs in a fresh process (``python -c PROBE``); peak RSS is that process's
(kernels excluded). The per-step cost is a least-squares fit of time against steps
over the sizes (slope; the intercept is the fixed start-up). The executed run of
each size is done once (1,000 kernels take minutes); the cached reruns alternate
between sizes ``REPEAT`` times.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from common import PYTHON, chain_manifest, env, load, machine, notebook, project

PROBE = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.manifest.load import load_manifest
record = run_workflow(load_manifest(Path(sys.argv[1])), RunOptions(jobs=1))
took = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"status": record.status.value, "wall": took, "run_id": record.run_id,
                  "cpu": usage.ru_utime + usage.ru_stime, "peak": usage.ru_maxrss / 1024}))
"""


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def kernel_busy(run_json: Path) -> float:
    """Seconds kernels spent executing cells in a run (execute_input → execute_reply)."""
    data = json.loads(run_json.read_text(encoding="utf-8"))
    busy = 0.0
    for step in data["steps"]:
        for cell in step.get("timings", {}).get("cells", []):
            execution = cell.get("execution", {})
            if "iopub.execute_input" in execution and "shell.execute_reply" in execution:
                busy += _time(execution["shell.execute_reply"]) - _time(
                    execution["iopub.execute_input"]
                )
    return busy


def probe(root: Path, name: str) -> dict[str, object]:
    manifest = root / "workflows" / name / "workflow.yaml"
    out = subprocess.run(
        [PYTHON, "-c", PROBE, str(manifest)],
        cwd=root,
        env=env(),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"probe failed: {out.stderr[-1500:]}")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded":
        raise SystemExit(f"{name}: run {result['status']}")
    return result


def fit(sizes: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares slope (per step) and intercept of ``values`` against ``sizes``."""
    slope, intercept = statistics.linear_regression(sizes, values)
    return slope, intercept


def main(repeat: int, sizes: list[int]) -> None:
    roots = {}
    executed: dict[int, dict[str, float]] = {}
    for size in sizes:
        name = f"chain{size}"
        nbs = {f"s{i}.ipynb": notebook(["x = p + 1"], "p = 0") for i in range(size)}
        root = project(name, chain_manifest(name, size, "defaults: {cache: true}\n"), nbs)
        roots[size] = (root, name)
        first = probe(root, name)
        busy = kernel_busy(root / "runs" / name / str(first["run_id"]) / "run.json")
        executed[size] = {
            "wall": float(first["wall"]),  # type: ignore[arg-type]
            "cpu": float(first["cpu"]),  # type: ignore[arg-type]
            "peak": float(first["peak"]),  # type: ignore[arg-type]
            "busy": busy,
        }
    cached: dict[int, list[dict[str, object]]] = {size: [] for size in sizes}
    for _ in range(repeat):
        for size in sizes:
            cached[size].append(probe(*roots[size]))

    print(f"## nbflow's cost per step ({machine()}; {load()})\n")
    print(
        "| steps | cached rerun (s) | per step (ms) | peak RSS (MiB) "
        "| executed run (s) | nbflow CPU / step (ms) | wall not in a kernel / step (ms) "
        "| peak RSS (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    cached_wall = {s: statistics.median(float(c["wall"]) for c in cached[s]) for s in sizes}  # type: ignore[arg-type]
    cached_peak = {s: max(float(c["peak"]) for c in cached[s]) for s in sizes}  # type: ignore[arg-type]
    for size in sizes:
        ex = executed[size]
        print(
            f"| {size:,} | {cached_wall[size]:.2f} | {cached_wall[size] / size * 1000:.1f} "
            f"| {cached_peak[size]:.0f} | {ex['wall']:.1f} | {ex['cpu'] / size * 1000:.0f} "
            f"| {(ex['wall'] - ex['busy']) / size * 1000:.0f} | {ex['peak']:.0f} |"
        )
    if len(sizes) > 1:
        print("\nfitted (least squares over the sizes): per step, and fixed cost")
        rows = [
            ("cached rerun, wall", [cached_wall[s] for s in sizes]),
            ("executed, nbflow CPU", [executed[s]["cpu"] for s in sizes]),
            (
                "executed, wall not in a kernel",
                [executed[s]["wall"] - executed[s]["busy"] for s in sizes],
            ),
            ("peak RSS, cached (MiB)", [cached_peak[s] for s in sizes]),
            ("peak RSS, executed (MiB)", [executed[s]["peak"] for s in sizes]),
        ]
        for label, values in rows:
            slope, intercept = fit(sizes, values)
            unit = "MiB" if "MiB" in label else "s"
            per = f"{slope * 1024:.2f} KiB" if unit == "MiB" else f"{slope * 1000:.1f} ms"
            print(f"- {label}: {per} per step + {intercept:.2f} {unit}")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    main(count, [int(a) for a in sys.argv[2:]] or [10, 100, 1000])
