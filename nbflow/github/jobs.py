"""``ci: {jobs: per-step}``: one GitHub Actions job per step, ``needs:`` mirroring the
manifest's graph (docs/scale.md, docs/github.md).

- ``plan`` runs ``nbflow run NAME --plan`` for the event (the same per-event commands
  as the single-job layout) and uploads the seed. It gets no secret.
- ``step-<id>`` downloads the seed and every piece uploaded so far, runs ``nbflow run
  NAME --step ID`` and uploads its piece even when the step failed. A ``foreach:``
  step whose list is known when the run is planned (a literal list, or one made of
  parameters) is a matrix: the plan job resolves the list from the seed (``nbflow ci
  matrix``) and each matrix job runs one item (``--item``), or, past GitHub's 256
  jobs per matrix, every 256th item; ``fail-fast`` is off so every item runs, as
  locally. A list from an upstream output is not known when GitHub expands the
  workflow: that step stays one job running all its items. It runs on the
  step's own runner (``ci.steps.<id>.runs-on``, else ``ci.runs-on``, else
  ``ubuntu-latest``) with ``contents: read`` and the manifest's secrets. A job whose
  need failed is skipped by GitHub; ``nbflow assemble`` records why. A step with a
  ``run_if`` other than the default runs unless the workflow run was cancelled or
  the plan failed (``!cancelled()``): ``nbflow run --step`` reads its needs' pieces
  (a need whose job GitHub skipped counts as skipped after a failure) and its rule
  runs or skips it, as in a local run.
- ``assemble`` runs after every step job, whatever happened to them (unless the plan
  did not run), assembles the run folder, commits and pushes it, and notifies, as
  ``nbflow run --commit --push`` does: the only job with ``contents: write``. It is
  in no concurrency group (GitHub would cancel a waiting assemble for a newer one:
  steps run, nothing recorded); concurrent pushes are retried by the push itself.
  It gets the push token and what ``notify:`` reads, no other secret.

Artifacts are named ``nbflow-<workflow>-<GitHub run id>-<plan.seed|step id>[.<matrix
job index>]`` (step ids hold no dot, so no two jobs share a name) and uploaded with
``overwrite``: re-running failed jobs replaces their pieces. Jobs download them
through the REST API (``run-id``, ``github-token``, ``actions: read``), the only way
a re-run job sees the pieces of jobs that passed in an earlier attempt.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nbflow.github.actions_yaml import mapping, run_step, uses_step
from nbflow.github.context import Context
from nbflow.github.pins import DOWNLOAD, UPLOAD
from nbflow.github.steps import (
    NOT_SKIPPED,
    add_environment,
    git_identity,
    guard_steps,
    job_head,
    run_condition,
    run_steps,
    runner,
    secret_env,
    setup_steps,
    timeout_minutes,
)
from nbflow.manifest.expressions import find_references
from nbflow.manifest.model import RunIf, Step, Workflow
from nbflow.plan import topological_order
from nbflow.run_record import item_name
from nbflow.store.pieces import Seed

PLAN_MINUTES = 15
PIECES = "${{ runner.temp }}/nbflow-pieces"  # what a job downloads
PIECE = "${{ runner.temp }}/nbflow-piece"  # what a job uploads
MATRIX_LIMIT = 256  # GitHub's most jobs per matrix
RUNNER_SET = ("GITHUB_", "RUNNER_")  # variables the runner sets: never overridden
SEED_ARTIFACT = "plan.seed"  # step ids hold no dot: no step's artifact has this name


def step_jobs(context: Context) -> Any:
    """The ``jobs:`` of the per-step layout: plan, one job per step, assemble."""
    jobs = mapping([("plan", _plan_job(context))])
    workflow = context.workflow
    for step_id in topological_order(workflow.steps):
        jobs[job_id(step_id)] = _step_job(context, workflow.step(step_id))
    jobs["assemble"] = _assemble_job(context)
    return jobs


def job_id(step_id: str) -> str:
    return f"step-{step_id}"


def is_matrix(step: Step) -> bool:
    """Whether ``step``'s items are known when the run is planned: a literal list,
    or an expression of parameters and the run's id and date."""
    if not step.is_sweep:
        return False
    return all(ref.kind in ("params", "run") for ref in find_references(step.foreach_data))


def matrix_output(step_id: str) -> str:
    return f"items-{step_id}"


def sweep_matrices(workflow: Workflow, seed: Seed) -> dict[str, dict[str, list[dict[str, str]]]]:
    """``nbflow ci matrix``: for each matrix step, by its plan-job output name, the
    matrix ``{"include": [{"item": …, "name": …}, …]}``: ``item`` is the ``--item``
    value of a job — one index each, or, past the limit, every ``MATRIX_LIMIT``-th
    index — and ``name`` what its job is called (the item's value when it is a short
    string); an empty list is one job of no item (which settles the step as a local
    run does)."""
    from nbflow.engine.parameters import resolve_foreach

    record = seed.record
    matrices = {}
    for step in workflow.steps:
        if is_matrix(step):
            items = resolve_foreach(workflow, step, record.parameters, {}, record.run_context)
            jobs = min(len(items), MATRIX_LIMIT)
            shares = [list(range(k, len(items), jobs)) for k in range(jobs)]
            include = [_matrix_job(share, items) for share in shares]
            matrices[matrix_output(step.id)] = {"include": include or [_matrix_job([], [])]}
    return matrices


def _matrix_job(share: list[int], items: list[Any]) -> dict[str, str]:
    """One matrix job: its ``--item`` value, and its name (its first item's)."""
    name = item_name(share[0], items[share[0]]) if share else "none"
    if len(share) > 1:
        name += f" +{len(share) - 1} more"
    return {"item": ",".join(map(str, share)), "name": name}


def _artifact(context: Context, suffix: str) -> str:
    return f"nbflow-{context.name}-${{{{ github.run_id }}}}-{suffix}"


def _head(context: Context, name: str, condition: str, permissions: Any, minutes: int) -> Any:
    job = job_head(name, condition, permissions, context)
    job["timeout-minutes"] = minutes
    return job


def _upload(context: Context, suffix: str, *, always: bool = False) -> Any:
    step = uses_step(
        context.pins[UPLOAD.action],
        name=_artifact(context, suffix),
        path=PIECE,
        overwrite=True,
        **{
            "if-no-files-found": "ignore" if always else "error",
            "include-hidden-files": True,  # a produced file may be named .something
        },
    )
    if always:  # a failed step's piece matters most
        step.insert(0, "if", "always()")
    elif context.push_paths:  # the plan's seed: none when a push of run commits planned nothing
        step.insert(0, "if", NOT_SKIPPED)
    return step


def _download(context: Context) -> Any:
    """Every piece of this workflow run so far. ``run-id`` and ``github-token`` make
    the action list the run's artifacts through the REST API, which sees those of
    earlier attempts too: after "Re-run failed jobs" the jobs that passed are not run
    again, and without them a re-run job finds none of their pieces."""
    return uses_step(
        context.pins[DOWNLOAD.action],
        pattern=_artifact(context, "*"),
        path=PIECES,
        **{
            "merge-multiple": True,
            "run-id": "${{ github.run_id }}",
            "github-token": "${{ github.token }}",
        },
    )


def _reading(*extra: tuple[str, str]) -> Any:
    """A job's permissions: read the repository and the run's artifacts, plus ``extra``."""
    return mapping([("actions", "read"), ("contents", "read"), *extra])


def _plan_job(context: Context) -> Any:
    job = _head(
        context,
        f"plan {context.name}",
        run_condition(context),
        mapping([("contents", "read")]),
        PLAN_MINUTES,
    )
    sweeps = [matrix_output(s.id) for s in context.workflow.steps if is_matrix(s)]
    outputs = [(name, f"${{{{ steps.matrix.outputs.{name} }}}}") for name in sweeps]
    if context.push_paths:  # the step jobs and assemble skip a push of run commits
        outputs.append(("skip", "${{ steps.guard.outputs.skip }}"))
    if outputs:
        job.insert(len(job) - 1, "outputs", mapping(outputs))
    matrix = run_step(
        "the items of each sweep, one matrix job each",
        condition=NOT_SKIPPED if context.push_paths else "",
        run=[f'nbflow ci matrix {context.name} --seed "{_env_path(PIECE)}" >> "$GITHUB_OUTPUT"'],
    )
    matrix.insert(1, "id", "matrix")
    job["steps"] = [
        *setup_steps(context),
        *guard_steps(context),
        *run_steps(context, tail=f'--plan --outputs "{_env_path(PIECE)}"', secrets=False),
        *([matrix] if sweeps else []),
        _upload(context, SEED_ARTIFACT),
    ]
    return job


def _step_job(context: Context, step: Step) -> Any:
    minutes = timeout_minutes(replace(context.workflow, steps=(step,)))
    conditions = []
    if step.run_if is not RunIf.ALL_SUCCEEDED:  # GitHub would skip it after a failed need
        conditions += ["!cancelled()", "needs.plan.result == 'success'"]
    if context.push_paths:
        conditions.append("needs.plan.outputs.skip != 'true'")
    condition = " && ".join(conditions)
    job = _head(context, f"{context.name} / {step.id}", condition, _reading(), minutes)
    job.insert(1, "needs", ["plan", *(job_id(n) for n in step.needs)])
    add_environment(job, context)
    env = secret_env(context.workflow)
    item, piece = "", step.id
    if is_matrix(step):  # one job per item, from the plan job's outputs
        job["name"] += " [${{ matrix.name }}]"
        matrix = f"${{{{ fromJSON(needs.plan.outputs.{matrix_output(step.id)}) }}}}"
        job.insert(len(job) - 1, "strategy", mapping([("fail-fast", False), ("matrix", matrix)]))
        env["NBFLOW_ITEM"] = "${{ matrix.item }}"
        item, piece = ' --item "$NBFLOW_ITEM"', f"{step.id}.${{{{ strategy.job-index }}}}"
    job["runs-on"] = runner(context, step.id)
    command = (
        f'nbflow run {context.name} --step {step.id}{item} --inputs "{_env_path(PIECES)}" '
        f'--outputs "{_env_path(PIECE)}"'
    )
    job["steps"] = [
        *setup_steps(context),
        _download(context),
        run_step(f"nbflow run --step {step.id}", env=env, run=[command]),
        _upload(context, piece, always=True),
    ]
    return job


def _assemble_job(context: Context) -> Any:
    permissions = mapping([("actions", "read"), ("contents", "write")])
    if context.commit_target == "pr":
        permissions["pull-requests"] = "write"
    condition = "always() && needs.plan.result == 'success'"
    if context.push_paths:
        condition += " && needs.plan.outputs.skip != 'true'"
    job = _head(context, f"assemble {context.name}", condition, permissions, PLAN_MINUTES)
    needs = ["plan", *(job_id(s) for s in topological_order(context.workflow.steps))]
    job.insert(1, "needs", needs)
    add_environment(job, context)
    # No concurrency group: GitHub keeps one waiting job per group and cancels an
    # older waiting one, which would drop a run whose steps had run. Two assembles
    # pushing at once is what the push's fetch-and-replay retry is for.
    assemble = [f'nbflow assemble {context.name} --pieces "{_env_path(PIECES)}" --commit --push']
    job["steps"] = [
        *setup_steps(context),
        git_identity(),
        _download(context),
        run_step("nbflow assemble and commit", env=notify_env(context.workflow), run=assemble),
    ]
    return job


def notify_env(workflow: Workflow) -> dict[str, str]:
    """What the assemble job's command gets: the push token and what the ``notify:``
    URLs read, nothing else (it runs no notebook): ``secrets.NAME`` from that secret,
    ``env.NAME`` from the repository secret ``NAME`` or, unset, the variable ``NAME``."""
    env = {"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}"}
    notify = workflow.notify
    for ref in find_references([*notify.on_failure, *notify.on_success]):
        if ref.kind == "secrets":
            env[ref.name] = f"${{{{ secrets.{ref.name} }}}}"
        elif ref.kind == "env" and ref.name not in env and not ref.name.startswith(RUNNER_SET):
            env[ref.name] = f"${{{{ secrets.{ref.name} || vars.{ref.name} }}}}"
    return env


def _env_path(expression: str) -> str:
    """``${{ runner.temp }}/x`` as the shell reads it: no expression inside ``run:``."""
    return expression.replace("${{ runner.temp }}", "$RUNNER_TEMP")
