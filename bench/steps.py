"""nbflow's own cost per step as a workflow grows: chains of 10, 100 and 1,000
trivial steps. Usage: ``python bench/steps.py [REPEAT] [SIZES…]`` (default 3;
10 100 1000); ``NBFLOW_BENCH_EXECUTE_UP_TO=100`` executes only the chains up to
100 steps (1,000 kernels take minutes on a quiet machine, an hour on a loaded one;
the larger chains are then executed once, untimed, to fill the cache).

Four measures, because "nbflow's own time" has no single honest figure:

- **no kernel, wall and CPU / step**: every step runs (``--force``) through nbflow's
  whole execution path (plan, parameters, fingerprint, folders, record updates and
  saves, the executed notebook written) with an executor that copies the notebook
  instead of starting a kernel and papermill: nbflow's own time per step, nothing
  else. The 1,000-step chain is measured this way even when it is not executed.
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
import os
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from common import PYTHON, chain_manifest, env, load, machine, notebook, project

PROBE = """
import json, resource, shutil, sys, time
from pathlib import Path
start = time.perf_counter()
from nbflow.engine.runner import RunOptions, run_workflow
from nbflow.engine.step import StepResult, execute_step
from nbflow.manifest.load import load_manifest
from nbflow.run_record import StepStatus, utc_now

def null_executor(task, handle=None, cancelled=bool):
    shutil.copyfile(task.notebook, task.output)  # the notebook, as if executed
    now = utc_now()
    return StepResult(StepStatus.SUCCEEDED, now, now, 0.0)

mode = sys.argv[2]  # null, kernel (both execute every step) or cached
executor = null_executor if mode == "null" else execute_step
options = RunOptions(jobs=1, force=mode != "cached")
record = run_workflow(load_manifest(Path(sys.argv[1])), options, executor=executor)
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


def probe(root: Path, name: str, mode: str) -> dict[str, float | str]:
    """Run workflow ``name`` in a fresh process, ``mode`` ``kernel`` (every step
    executed), ``null`` (every step run, its notebook copied instead of executed: no
    kernel) or ``cached``; what it measured."""
    manifest = root / "workflows" / name / "workflow.yaml"
    out = subprocess.run(
        [PYTHON, "-c", PROBE, str(manifest), mode],
        cwd=root,
        env=env(),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"probe failed: {out.stderr[-1500:]}")
    result: dict[str, float | str] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded":
        raise SystemExit(f"{name}: run {result['status']}")
    return result


def fit(sizes: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares slope (per step) and intercept of ``values`` against ``sizes``."""
    slope, intercept = statistics.linear_regression(sizes, values)
    return slope, intercept


def main(repeat: int, sizes: list[int]) -> None:
    execute_up_to = int(os.environ.get("NBFLOW_BENCH_EXECUTE_UP_TO", max(sizes)))
    roots, kernel = {}, {}
    for size in sizes:
        name = f"chain{size}"
        nbs = {f"s{i}.ipynb": notebook(["x = p + 1"], "p = 0") for i in range(size)}
        roots[size] = project(name, chain_manifest(name, size, "defaults: {cache: true}\n"), nbs)
        if size <= execute_up_to:
            first = probe(roots[size], name, "kernel")
            run_json = roots[size] / "runs" / name / str(first["run_id"]) / "run.json"
            kernel[size] = {**first, "busy": kernel_busy(run_json)}
    samples: dict[tuple[str, int], list[dict[str, float | str]]] = {}
    for _ in range(repeat):
        for mode in ("null", "cached"):
            for size in sizes:
                samples.setdefault((mode, size), []).append(
                    probe(roots[size], f"chain{size}", mode)
                )

    def median(mode: str, size: int, key: str) -> float:
        return statistics.median(float(r[key]) for r in samples[mode, size])

    def peak(mode: str, size: int) -> float:
        return max(float(r["peak"]) for r in samples[mode, size])

    print(f"## nbflow's cost per step ({machine()}; {load()})\n")
    print(
        "| steps | no kernel (s) | wall / step (ms) | CPU / step (ms) | peak RSS (MiB) "
        "| cached rerun (s) | wall / step (ms) | peak RSS (MiB) | with kernels (s) "
        "| nbflow CPU / step (ms) | wall not in a kernel / step (ms) | peak RSS (MiB) |"
    )
    print("|---:|" + "---:|" * 11)
    for size in sizes:
        null_wall, cached_wall = median("null", size, "wall"), median("cached", size, "wall")
        row = [
            f"{size:,}",
            f"{null_wall:.2f}",
            f"{null_wall / size * 1000:.1f}",
            f"{median('null', size, 'cpu') / size * 1000:.1f}",
            f"{peak('null', size):.0f}",
            f"{cached_wall:.2f}",
            f"{cached_wall / size * 1000:.1f}",
            f"{peak('cached', size):.0f}",
        ]
        if size in kernel:
            k = {
                key: float(value)
                for key, value in kernel[size].items()
                if key != "status" and key != "run_id"
            }
            row += [
                f"{k['wall']:.1f}",
                f"{k['cpu'] / size * 1000:.0f}",
                f"{(k['wall'] - k['busy']) / size * 1000:.0f}",
                f"{k['peak']:.0f}",
            ]
        else:
            row += ["not run"] * 4
        print("| " + " | ".join(row) + " |")
    if len(sizes) < 2:
        return
    print("\nfitted (least squares over the sizes): cost per step + fixed cost")
    fits = [
        ("no kernel, wall", [median("null", s, "wall") for s in sizes], sizes, "s"),
        ("no kernel, CPU", [median("null", s, "cpu") for s in sizes], sizes, "s"),
        ("no kernel, peak RSS", [peak("null", s) for s in sizes], sizes, "MiB"),
        ("cached rerun, wall", [median("cached", s, "wall") for s in sizes], sizes, "s"),
        ("cached rerun, peak RSS", [peak("cached", s) for s in sizes], sizes, "MiB"),
    ]
    run = sorted(kernel)
    if len(run) > 1:
        fits += [
            ("with kernels, nbflow CPU", [float(kernel[s]["cpu"]) for s in run], run, "s"),
            (
                "with kernels, wall not in a kernel",
                [float(kernel[s]["wall"]) - float(kernel[s]["busy"]) for s in run],
                run,
                "s",
            ),
            ("with kernels, peak RSS", [float(kernel[s]["peak"]) for s in run], run, "MiB"),
        ]
    for label, values, xs, unit in fits:
        slope, intercept = fit(xs, values)
        per = f"{slope * 1024:.1f} KiB" if unit == "MiB" else f"{slope * 1000:.2f} ms"
        print(f"- {label}: {per} per step + {intercept:.2f} {unit}")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    main(count, [int(a) for a in sys.argv[2:]] or [10, 100, 1000])
