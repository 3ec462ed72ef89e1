"""The jobs' parts both layouts share (the single ``run`` job in ``workflows.py``, the
per-step jobs in ``jobs.py``): a job's head (runner, timeout, permissions), the setup
steps, the guard against pushes of run commits only, one ``nbflow run`` step per
event with the manifest's secrets, and the git identity of the run commit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nbflow.errors import ManifestError, Problem
from nbflow.github.actions_yaml import literal_lines, mapping, run_step, uses_step
from nbflow.github.context import Context, ci_path
from nbflow.github.inputs import fits_inputs, input_env
from nbflow.github.pins import CHECKOUT, SETUP_PYTHON, SETUP_UV
from nbflow.manifest.expressions import find_references
from nbflow.manifest.model import Grid, Step, Workflow

MAX_TIMEOUT_MINUTES = 360  # GitHub-hosted runners stop a job after 6 hours anyway


SETUP_MINUTES = 10  # checkout, Python and installing before the first step starts


DEFAULT_RUNNER = "ubuntu-latest"


BOT_NAME = "github-actions[bot]"


BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"


def add_environment(job: Any, context: Context) -> None:
    """``ci.environment``: the job holding secrets waits for the environment's rules."""
    if environment := context.workflow.ci.environment:
        job.insert(list(job).index("permissions") + 1, "environment", environment)


def git_identity() -> Any:
    return run_step(
        "git identity for the run commit",
        run=[f'git config user.name "{BOT_NAME}"', f'git config user.email "{BOT_EMAIL}"'],
    )


NOT_SKIPPED = "steps.guard.outputs.skip != 'true'"  # no guard step ran: ''


def guard_steps(context: Context) -> list[Any]:
    """A push holding only run commits runs nothing (``nbflow ci guard``)."""
    if not context.push_paths:
        return []
    step = run_step(
        "skip a push of run commits only",
        condition="github.event_name == 'push'",
        run=['nbflow ci guard >> "$GITHUB_OUTPUT"'],
    )
    step.insert(1, "id", "guard")
    return [step]


def job_head(name: str, condition: str, permissions: Any, context: Context) -> Any:
    condition_items = [("if", condition)] if condition else []
    return mapping(
        [
            ("name", name),
            *condition_items,
            ("runs-on", runner(context)),
            ("timeout-minutes", timeout_minutes(context.workflow)),
            ("permissions", permissions),
            ("defaults", mapping([("run", mapping([("shell", "bash")]))])),
        ]
    )


def runner(context: Context, step_id: str | None = None) -> Any:
    """A job's ``runs-on``: the step's own (``ci.steps.<id>.runs-on``), else
    ``ci.runs-on``, else ubuntu-latest."""
    ci = context.workflow.ci
    found = ci.step_runs_on.get(step_id) if step_id else None
    found = found or ci.runs_on or DEFAULT_RUNNER
    return list(found) if isinstance(found, tuple) else found


def run_condition(context: Context) -> str:
    """Not for pull requests (their own job); a push only on the default branch unless
    the manifest names branches (the trigger's filter then holds them)."""
    if not context.push_paths:
        return ""  # no pull_request trigger either
    if context.workflow.triggers.push_branches:
        return "github.event_name != 'pull_request'"
    return (
        "github.event_name != 'pull_request' && (github.event_name != 'push' || "
        "github.ref_name == github.event.repository.default_branch)"
    )


def timeout_minutes(workflow: Workflow) -> int:
    """Every step's timeout times its attempts, plus retry delays, its ``wait_for:``
    timeout and setup; capped.

    A step without a timeout makes the job take GitHub's own limit, and so does a
    ``foreach:`` step whose item count is not known before the run (an upstream
    output); a sweep counts once per item, as if its items ran one after another.
    """
    seconds = 0.0
    for step in workflow.steps:
        runs = _item_count(workflow, step)
        if step.timeout is None or runs is None:
            return MAX_TIMEOUT_MINUTES
        one = step.timeout * (step.retries + 1) + step.retry_delay * step.retries
        if step.wait_for is not None:
            one += step.wait_for.timeout
        seconds += one * runs
    return min(MAX_TIMEOUT_MINUTES, math.ceil(seconds / 60) + SETUP_MINUTES)


def _item_count(workflow: Workflow, step: Step) -> int | None:
    """How many times ``step`` runs: 1, a sweep's item count, None when unknown."""
    if step.foreach is None:
        return 1
    if isinstance(step.foreach, Grid):
        counts = [_list_length(workflow, values) for _, values in step.foreach.axes]
        return None if None in counts else math.prod(c or 0 for c in counts)
    return _list_length(workflow, step.foreach)


def _list_length(workflow: Workflow, values: tuple[Any, ...] | str) -> int | None:
    """The length of a literal list, or of the list parameter's default it names."""
    if isinstance(values, tuple):
        return len(values)
    ref = find_references(values)[0]
    if ref.kind == "params":
        default = workflow.parameter(ref.name).default
        return len(default) if isinstance(default, list) else None
    return None


def setup_steps(context: Context) -> list[Any]:
    """Checkout without persisted credentials, Python, uv, then nbflow (pinned) and the
    project's dependencies (nbflow/github/install.py)."""
    setup, pins = context.setup, context.pins
    cache = setup.cache_glob or (ci_path(context.name).as_posix(),)
    uv = {"enable-cache": True, "cache-dependency-glob": literal_lines(cache)}
    return [
        uses_step(pins[CHECKOUT.action], **{"persist-credentials": False}),
        uses_step(pins[SETUP_PYTHON.action], **setup.python),
        uses_step(pins[SETUP_UV.action], **uv),
        run_step("install nbflow and the project's dependencies", run=setup.install),
    ]


def run_steps(
    context: Context, tail: str, *, secrets: bool = True, catch_up: bool = False
) -> list[Any]:
    """One ``nbflow run`` step per event; ``tail`` ends each command (the single job
    writes the run folders' paths for the commit step; the per-step layout's plan job
    passes ``--plan --outputs DIR`` and ``secrets=False``). No step gets the token.
    A schedule passes the cron that fired (the run's logical time is its tick), and
    with ``catch_up`` runs the ticks GitHub dropped first (docs/running.md)."""
    triggers = context.workflow.triggers
    env = secret_env(context.workflow) if secrets else {}
    steps = []
    if context.push_paths:
        push = _event_step(context, "push", "push", env, tail=tail)
        push["if"] += f" && {NOT_SKIPPED}"
        steps.append(push)
    if triggers.schedule:  # nbflow reads which cron fired: its tick is the logical time
        cron = {**env, "NBFLOW_CRON": "${{ github.event.schedule }}"}
        arguments = '--schedule "$NBFLOW_CRON" ' + ("--catch-up " if catch_up else "")
        steps.append(_event_step(context, "schedule", "schedule", cron, arguments, tail=tail))
    if triggers.dispatch:
        steps.append(_dispatch_step(context, env, tail))
    return steps


def _event_step(
    context: Context,
    trigger: str,
    event: str,
    env: Mapping[str, str],
    arguments: str = "",
    *,
    tail: str,
) -> Any:
    command = f"nbflow run {context.name} --trigger {trigger} {arguments}{tail}"
    return run_step(
        f"nbflow run ({trigger})",
        condition=f"github.event_name == '{event}'",
        env=env,
        run=[command],
    )


def secret_env(workflow: Workflow) -> dict[str, str]:
    """The manifest's secrets, for the steps that run notebooks: the token only when
    the manifest lists ``GITHUB_TOKEN`` itself."""
    env = {}
    for name in workflow.secrets:
        if name.startswith("GITHUB_") and name != "GITHUB_TOKEN":
            raise ManifestError(
                [
                    Problem(
                        workflow.source,
                        "secrets",
                        f"GitHub does not allow a secret named '{name}' (the GITHUB_ prefix "
                        "is reserved)",
                        "rename the secret",
                    )
                ]
            )
        env[name] = f"${{{{ secrets.{name} }}}}"
    return env


def _dispatch_step(context: Context, env: Mapping[str, str], tail: str) -> Any:
    parameters = context.workflow.parameters
    head = f"nbflow run {context.name} --trigger dispatch"
    event = "workflow_dispatch"
    if not parameters:
        return _event_step(context, "dispatch", event, env, tail=tail)
    if not fits_inputs(parameters):
        json_env = {**env, "NBFLOW_PARAMETERS": "${{ inputs.parameters }}"}
        arguments = '--params-json "$NBFLOW_PARAMETERS" '
        return _event_step(context, "dispatch", event, json_env, arguments, tail=tail)
    inputs = {input_env(p): f"${{{{ inputs.{p.name} }}}}" for p in parameters}
    lines = ["# an empty input keeps the manifest's default", "args=()"]
    for param in parameters:
        var = input_env(param)
        lines.append(f'if [ -n "${var}" ]; then args+=(-p "{param.name}=${var}"); fi')
    lines.append(f'{head} "${{args[@]}}" {tail}')
    return run_step(
        "nbflow run (dispatch)",
        condition=f"github.event_name == '{event}'",
        env={**env, **inputs},
        run=lines,
    )
