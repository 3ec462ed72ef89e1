"""Mutation testing of the modules listed in targets.toml, with cosmic-ray.

Each target runs in a fresh copy of the repository (cosmic-ray edits the module on
disk), with PYTHONPATH pointing at the copy so that kernels and ``nbflow``
subprocesses import the mutated code too. Prints each target's score and its
surviving mutants as diffs; writes the sessions under ``--out`` for ``cr-report``.

    python tests/mutation/run.py                  # every target
    python tests/mutation/run.py secrets github   # some
    python tests/mutation/run.py --list
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

# Operators that rarely make a realistic bug here (bit shifts, powers) are left out,
# so that a run spends its time on comparisons, booleans, numbers, loops and
# exception handling.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_.*_(Pow|RShift|LShift|BitOr|BitAnd|BitXor|FloorDiv|Mod)",
    r"core/ReplaceBinaryOperator_(Pow|RShift|LShift|BitOr|BitAnd|BitXor|FloorDiv|Mod)_.*",
    r"core/VariableInserter",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="targets to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--out", type=Path, default=Path("mutation-sessions"))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    args = parser.parse_args()
    targets = tomllib.loads((HERE / "targets.toml").read_text(encoding="utf-8"))
    if args.list:
        for name, target in targets.items():
            print(f"{name:14} {target['module']:32} {' '.join(target['tests'])}")
        return 0
    unknown = set(args.names) - set(targets)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}; see --list")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(targets):
        run_target(name, targets[name], args.out.resolve(), args.timeout)
    return 0


def run_target(name: str, target: dict[str, object], out: Path, timeout: float) -> None:
    copy = out / f"{name}-repo"
    _copy_repository(copy)
    tests = " ".join(str(t) for t in target["tests"] if (copy / str(t)).exists())  # type: ignore[attr-defined]
    config = out / f"{name}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(str(target['module']))}\n"
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{sys.executable} -m pytest -x -q -p no:cacheprovider {tests}"\n'
        '[cosmic-ray.distributor]\nname = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n",
        encoding="utf-8",
    )
    session = out / f"{name}.sqlite"
    session.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(copy)}
    bin_dir = Path(sys.executable).parent
    steps = [
        [bin_dir / "cosmic-ray", "init", config, session],
        [bin_dir / "cr-filter-operators", session, config],
        [bin_dir / "cosmic-ray", "exec", config, session],
    ]
    for step in steps:
        subprocess.run([str(part) for part in step], cwd=copy, env=env, check=True)
    report = subprocess.run(
        [str(bin_dir / "cr-report"), "--show-diff", str(session)],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (out / f"{name}.report.txt").write_text(report, encoding="utf-8")
    print(f"== {name} ({target['module']})")
    print(_survivors(report))


def _survivors(report: str) -> str:
    """The report's summary lines and its surviving mutants (cr-report lists every job)."""
    blocks = report.split("\n[job-id]")
    kept = [b for b in blocks[1:] if "test outcome: TestOutcome.SURVIVED" in b]
    summary = [
        line
        for line in report.splitlines()
        if line.startswith(("total jobs", "complete", "surviving"))
    ]
    return "\n".join(summary + ["[job-id]" + b for b in kept])


def _copy_repository(copy: Path) -> None:
    """The tracked files and the untracked, unignored ones, as they are now."""
    if copy.exists():
        shutil.rmtree(copy)
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for relative in filter(None, files):
        source = REPO / relative
        if source.is_file():
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / relative)


if __name__ == "__main__":
    raise SystemExit(main())
