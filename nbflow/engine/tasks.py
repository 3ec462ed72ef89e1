"""What a step (or one item of a foreach step) executes with: a :class:`StepTask`.

Its parameters are resolved from the outputs of the steps upstream of it, so a task
is made only once those have finished (engine/readiness.py says when); the outputs
of a step not selected come from the earlier run that lends them (engine/reuse.py).
Every kernel of a run gets the run's environment (its id, no push token).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbflow.engine.parameters import expression_context, resolve_globs, resolve_step_parameters
from nbflow.engine.step_task import StepTask
from nbflow.manifest.expressions import Context
from nbflow.manifest.model import Step, Workflow
from nbflow.plan import upstream
from nbflow.run_record import StepRecord, item_name
from nbflow.secrets import TOKEN_VARIABLES, Redactor
from nbflow.store.runs import item_notebook

if TYPE_CHECKING:
    from nbflow.engine.kernel import KernelSpec
    from nbflow.engine.kernels import KernelPool


class Tasks:
    """Makes the tasks of one run's steps and items."""

    def __init__(
        self,
        workflow: Workflow,
        params: Mapping[str, Any],
        *,
        folder: Path,
        root: Path,
        run_context: Mapping[str, str],
        step_parameters: Mapping[str, Mapping[str, Any]],
        given: Sequence[str],
        log_output: bool,
        redactor: Redactor,
        scratch: Path | None,
        records: Callable[[str], StepRecord],
        is_selected: Callable[[str], bool],
    ) -> None:
        self.workflow, self.params, self.folder, self.root = workflow, params, folder, root
        self.run_context, self.step_parameters, self.given = run_context, step_parameters, given
        self.log_output, self.redactor, self.scratch = log_output, redactor, scratch
        self._records, self._is_selected = records, is_selected
        self.kernels: KernelPool | None = None  # warm kernels, when steps execute here
        self.lent: dict[str, Mapping[str, Any]] = {}  # outputs of steps not selected
        self._upstream: dict[str, frozenset[str]] = {}  # each step's, once computed

    def task(self, step: Step, item: tuple[int, Any] | None = None) -> StepTask:
        """What executes ``step`` (or, with ``item``, one item of a foreach step)."""
        outputs = self.upstream_outputs(step)
        parameters = resolve_step_parameters(
            self.workflow,
            step,
            self.params,
            outputs,
            self.run_context,
            self.step_parameters.get(step.id, {}),
            given=tuple(self.given),
            item=item,
        )
        name = item_notebook(step.id, item[0]) if item else f"{step.id}.ipynb"
        return StepTask(
            step_id=f"{step.id}[{item_name(*item)}]" if item else step.id,  # fit[model=svc]
            notebook=self.workflow.notebook_path(step),
            output=self.folder / name,
            cwd=self.workflow.directory,
            parameters=parameters,
            kernel=step.kernel,
            timeout=step.timeout,
            env=self.kernel_env(step),
            log_output=self.log_output,
            redactor=self.redactor,
            kernels=self.kernels,
            scratch=self.scratch,
            inputs=self._globs(step.inputs, outputs, item),
            produces=self._globs(step.produces, outputs, item),
            clean=True,
            root=self.root,
        )

    def _globs(
        self,
        patterns: Sequence[str],
        outputs: Mapping[str, Mapping[str, Any] | None],
        item: tuple[int, Any] | None,
    ) -> tuple[str, ...]:
        return resolve_globs(self.workflow, patterns, self.params, outputs, self.run_context, item)

    def context(self, step: Step) -> Context:
        """What ``step``'s ``if:`` and ``wait_for:`` read (engine/gates.py)."""
        outputs = self.upstream_outputs(step)
        return expression_context(self.workflow, self.params, outputs, self.run_context)

    def upstream_outputs(self, step: Step) -> Mapping[str, Mapping[str, Any] | None]:
        """The outputs of every step upstream of ``step``, by id: a view, each read
        when an expression names it (the upstream steps are found then too: most
        steps name none, and finding them is O(steps) a step)."""
        return _Outputs(functools.partial(self._upstream_of, step), self.outputs_of)

    def _upstream_of(self, step: Step) -> frozenset[str]:
        if step.id not in self._upstream:
            self._upstream[step.id] = frozenset(upstream(self.workflow, step.needs))
        return self._upstream[step.id]

    def outputs_of(self, step_id: str) -> Mapping[str, Any] | None:
        """A step's outputs: its own in this run, else those an earlier run lends."""
        step = self._records(step_id)
        if self._is_selected(step_id) or step.status.is_done:
            return step.outputs
        return self.lent.get(step_id)

    def kernel_spec(self, step: Step) -> KernelSpec:
        """The kernel ``step`` executes in (warmed ahead by the runner)."""
        from nbflow.engine.kernel import KernelSpec  # when kernels are warmed: a step executes

        return KernelSpec.of(
            step.kernel, self.workflow.directory, self.kernel_env(step), self.scratch
        )

    def kernel_env(self, step: Step) -> dict[str, str]:
        return {**self.run_env(), "NBFLOW_STEP": step.id}

    def run_env(self) -> dict[str, str]:
        """What every kernel of the run has in its environment beyond nbflow's own."""
        return {
            "NBFLOW_RUN_ID": self.run_context["id"],
            # the push token is nbflow's, not the notebooks' (least privilege);
            # a workflow that needs it in a notebook lists it under `secrets:`
            **{n: "" for n in TOKEN_VARIABLES if n not in self.workflow.secrets},
        }


class _Outputs(Mapping[str, Mapping[str, Any] | None]):
    """The outputs of the steps ``steps()`` names (asked once, when first needed), each
    read (``outputs_of``) when asked for."""

    def __init__(
        self,
        steps: Callable[[], frozenset[str]],
        outputs_of: Callable[[str], Mapping[str, Any] | None],
    ) -> None:
        self._steps_of, self._outputs_of = steps, outputs_of

    @functools.cached_property
    def _steps(self) -> frozenset[str]:
        return self._steps_of()

    def __getitem__(self, step_id: str) -> Mapping[str, Any] | None:
        if step_id not in self._steps:
            raise KeyError(step_id)
        return self._outputs_of(step_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)
