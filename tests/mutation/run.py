"""Mutation testing of the modules listed in targets.toml, with cosmic-ray.

Each target runs in a fresh copy of the repository (cosmic-ray edits the module on
disk), with PYTHONPATH pointing at the copy so that kernels and ``nbflow``
subprocesses import the mutated code too. Prints each target's score and its
surviving mutants as diffs; writes the sessions under ``--out`` for ``cr-report``.

    python tests/mutation/run.py                  # every target
    python tests/mutation/run.py secrets github   # some
    python tests/mutation/run.py --list
    python tests/mutation/run.py --recheck github # its survivors against today's tests
    python tests/mutation/run.py commit --functions _push,commit_run  # part of a target
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
from typing import Any

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
    parser.add_argument(
        "--functions",
        help="comma-separated function names: only mutants inside them run (instead of "
        "the target's own list; to split a long session in parts)",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="re-run only the survivors of the targets' sessions in --out against the "
        "target's tests as they are now (after adding tests, or tests to targets.toml)",
    )
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
        if args.functions:
            targets[name]["functions"] = args.functions.split(",")
        if args.recheck:
            recheck(name, targets[name], args.out.resolve())
        else:
            run_target(name, targets[name], args.out.resolve(), args.timeout)
    return 0


def run_target(name: str, target: dict[str, object], out: Path, timeout: float) -> None:
    copy = out / f"{name}-repo"
    _copy_repository(copy)
    tests = " ".join(_tests(target, copy))
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
        if step[1] == "exec":
            _keep_only(session, target.get("functions"))
        subprocess.run([str(part) for part in step], cwd=copy, env=env, check=True)
    report = subprocess.run(
        [str(bin_dir / "cr-report"), "--show-diff", str(session)],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (out / f"{name}.report.txt").write_text(report, encoding="utf-8")
    print(f"== {name} ({target['module']}): {_score(session)}")
    print(_survivors(report))


def _keep_only(session: Path, functions: object) -> None:
    """Skip the mutants outside ``functions`` (a target's optional list of function
    and method names: the code holding the promise, in a module doing more)."""
    if not functions:
        return
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session)) as db:
        for item in list(db.pending_work_items):
            if not any(m.definition_name in functions for m in item.mutations):  # type: ignore[operator]
                skipped = WorkResult(WorkerOutcome.SKIPPED, output="outside its functions")
                db.set_result(item.job_id, skipped)


def recheck(name: str, target: dict[str, object], out: Path) -> None:
    """Plant each survivor of session ``out/NAME.sqlite`` in a fresh copy of the
    repository and run the target's tests on it: which of them the tests kill now."""
    bin_dir = Path(sys.executable).parent
    copy = out / f"{name}-recheck"
    print(f"== {name} ({target['module']}): survivors against {' '.join(_tests(target, REPO))}")
    for job, result in _jobs(out / f"{name}.sqlite"):
        if result.get("test_outcome") != "survived":
            continue
        _copy_repository(copy)
        (mutation,) = job["mutations"]
        # the target's module as it is now (it may have moved since the session)
        where = [str(target["module"]), mutation["operator_name"], str(mutation["occurrence"])]
        subprocess.run([str(bin_dir / "cosmic-ray"), "apply", *where], cwd=copy, check=True)
        planted = (copy / where[0]).read_text(encoding="utf-8").splitlines()
        added = [ln[1:] for ln in result["diff"].splitlines() if ln.startswith("+ ")]
        if not set(added) <= set(planted):
            print(f"{job['job_id'][:8]}: the module changed since the session; run it again")
            continue
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
            + _tests(target, copy),
            cwd=copy,
            env={**os.environ, "PYTHONPATH": str(copy)},
            capture_output=True,
            text=True,
        )
        failed = [ln[7:] for ln in tests.stdout.splitlines() if ln.startswith("FAILED")]
        verdict = "SURVIVES"
        if tests.returncode:
            verdict = f"killed by {(failed or [f'pytest exit {tests.returncode}'])[0]}"
        line_no = mutation["start_pos"][0]
        print(f"{job['job_id'][:8]} line {line_no} {' '.join(where[1:])}: {verdict}")


def _jobs(session: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The session's mutants and their results (None while pending)."""
    dump = subprocess.run(
        [str(Path(sys.executable).parent / "cosmic-ray"), "dump", str(session)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [(job, result or {}) for job, result in map(json.loads, dump.splitlines())]


def _score(session: Path) -> str:
    """``N mutants run: K killed, S survived`` (skipped ones are not counted)."""
    ran = [r for _, r in _jobs(session) if r.get("worker_outcome") not in (None, "skipped")]
    survived = sum(1 for r in ran if r.get("test_outcome") == "survived")
    return f"{len(ran)} mutants run: {len(ran) - survived} killed, {survived} survived"


def _tests(target: dict[str, object], copy: Path) -> list[str]:
    """The target's tests (files, or ``file::test``) whose file exists in ``copy``."""
    tests = [str(t) for t in target["tests"]]  # type: ignore[attr-defined]
    return [t for t in tests if (copy / t.partition("::")[0]).exists()]


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
