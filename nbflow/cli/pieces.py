"""Steps run apart (docs/scale.md): ``nbflow run --plan`` writes a run's seed,
``nbflow run --step`` runs one step into a piece, ``nbflow assemble`` joins the
pieces into a run folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nbflow.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    load_workflow,
    redact_secrets,
)
from nbflow.cli.publish import add_commit_options, commit_target, publish
from nbflow.cli.run_options import item_indices, run_options, split_commas
from nbflow.errors import UsageError

if TYPE_CHECKING:
    from nbflow.cli.common import Commands


def run_apart(args: argparse.Namespace) -> int:
    """``--plan`` (write a run's seed) or ``--step ID`` (run one step into a piece)."""
    from nbflow.engine.pieces import run_step, seed_run
    from nbflow.store.pieces import read_seed, write_seed

    if args.plan and args.step:
        raise UsageError("--plan and --step go in separate commands: plan first, then each step")
    if args.item is not None and not args.step:
        raise UsageError("--item chooses items of the step given with --step")
    if not args.workflow or not args.outputs or args.changed or args.resume:
        raise UsageError(
            "--plan and --step take a WORKFLOW and --outputs DIR (not --changed, --resume)"
        )
    if args.commit or args.push or args.target or args.executor != "local":
        raise UsageError(
            "--plan and --step run no whole run: commit with "
            "`nbflow assemble --commit`; --executor does not apply"
        )
    workflow = load_workflow(args.workflow)
    redact_secrets(workflow)
    outputs = Path(args.outputs)
    if args.plan:
        seed = seed_run(workflow, run_options(workflow, args, split_commas(args.steps)))
        path = write_seed(outputs, seed)
        print(seed.record.run_id)
        print(f"seed of run {seed.record.run_id}: {path}", file=sys.stderr)
        return EXIT_OK
    inputs = [Path(d) for d in args.inputs] or [outputs]
    if args.parameter or args.params_json or args.steps or args.schedule:
        raise UsageError(
            "--step takes its parameters from the seed: drop -p, --params-json, --steps, --schedule"
        )
    seed = read_seed(inputs)
    if args.run_id and args.run_id != seed.record.run_id:
        raise UsageError(
            f"--run-id {args.run_id}: the seed in --inputs is run {seed.record.run_id}"
        )
    items = item_indices(args.item) if args.item is not None else None
    step, piece = run_step(
        workflow, args.step, seed, inputs, outputs, log_output=args.log_output, items=items
    )
    print(piece)
    if step.error:
        print(f"{step.id}: {step.status.value}: {step.error.summary}", file=sys.stderr)
    # skipped: its run_if or if: decided so (its piece records why), not a failure
    codes = {"succeeded": EXIT_OK, "skipped": EXIT_OK, "cancelled": EXIT_INTERRUPTED}
    return codes.get(step.status.value, EXIT_FAILED)


def cmd_assemble(args: argparse.Namespace) -> int:
    """Assemble, then commit and notify as `nbflow run` does; exit 0 only when the run
    succeeded (a run with steps that never ran is cancelled: 130)."""
    from nbflow.engine.assemble import assemble_run
    from nbflow.project import project_of_manifest

    workflow = load_workflow(args.workflow)
    redact_secrets(workflow)
    project = project_of_manifest(workflow.manifest)
    target = commit_target(args, project, workflow)
    record = assemble_run(
        workflow, [Path(d) for d in args.pieces], run_id=args.run_id, project=project
    )
    print(f"assembled run {record.run_id}: {record.status.value}", file=sys.stderr)
    return publish(workflow, project, record, args, target)


def add_assemble(commands: Commands) -> None:
    p = commands.add_parser("assemble", help="write a run folder from the pieces of its steps")
    p.add_argument("workflow", metavar="WORKFLOW", help="a name under workflows/ or a path")
    p.add_argument("--run-id", metavar="RUN", help="check that the pieces are of this run")
    p.add_argument(
        "--pieces",
        nargs="+",
        required=True,
        metavar="DIR",
        help="folders holding the seed and the pieces",
    )
    p.add_argument("--json", action="store_true", help="print the run record")
    add_commit_options(p, "--commit", "commit the run folder (see docs/git.md)")
    p.set_defaults(handler=cmd_assemble)
