"""Frozen dataclasses describing a loaded manifest.

Every model object keeps the :class:`Source` of the YAML node it came from, so a
check made long after loading (a cycle found while planning, a bad value given on
the command line) can still point at a line. Paths in a manifest are relative to
the folder holding ``workflow.yaml``; the loader keeps them relative and
:class:`Workflow` resolves them, so a workflow folder can be moved or copied.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from nbflow.errors import Problem, Source

__all__ = [
    "Defaults",
    "Notify",
    "ParamType",
    "Parameter",
    "ReportSettings",
    "RunIf",
    "Source",
    "Step",
    "Triggers",
    "WaitFor",
    "Workflow",
]


class ParamType(StrEnum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    PATH = "path"
    LIST = "list"
    DICT = "dict"
    CHOICE = "choice"


@dataclass(frozen=True)
class Parameter:
    """A typed workflow parameter. ``default`` is already checked against ``type``;
    the special defaults ``today`` (date) and ``now`` (datetime) are kept as written
    and resolved when a run starts."""

    name: str
    type: ParamType
    source: Source
    default: Any = None
    has_default: bool = False
    required: bool = False
    description: str = ""
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ReportSettings:
    """``report:``: readable copies of a step's executed notebook (engine/html.py)."""

    html: bool = False  # write <step>.html beside the executed notebook
    hide_code: bool = False  # leave code cells' input out of it


@dataclass(frozen=True)
class Defaults:
    """Step settings that apply unless a step overrides them. Durations in seconds."""

    timeout: float | None = None
    retries: int = 0
    retry_delay: float = 0.0
    kernel: str | None = None  # None: not set; each step's notebook names its own
    cache: bool | None = None  # None: not set in the manifest
    report: ReportSettings = ReportSettings()  # `report:` or `defaults.report`


class RunIf(StrEnum):
    """A step's trigger rule (``run_if:``): which outcomes of the steps it needs let it
    run. docs/running.md has the table; engine/readiness.py applies it."""

    ALL_SUCCEEDED = "all_succeeded"
    NONE_FAILED = "none_failed"
    ALL_DONE = "all_done"
    ANY_FAILED = "any_failed"


@dataclass(frozen=True)
class WaitFor:
    """A step's ``wait_for:``: globs (local or fsspec URLs, may hold expressions)
    that must all match before it starts; durations in seconds."""

    paths: tuple[str, ...]
    timeout: float = 3600.0
    every: float = 60.0


@dataclass(frozen=True)
class Grid:
    """``foreach: {grid: {KEY: VALUES, …}}``: one item per combination of the values,
    each a mapping ``{KEY: value, …}``. ``axes`` keep the manifest's order; each
    holds a literal list, or one expression naming a list (resolved when the step
    starts)."""

    axes: tuple[tuple[str, tuple[Any, ...] | str], ...]

    def plain(self) -> dict[str, Any]:
        """The grid as the manifest writes it (``{KEY: [values] | "${{ … }}"}``)."""
        return {key: list(v) if isinstance(v, tuple) else v for key, v in self.axes}

    def literal_items(self) -> list[dict[str, Any]] | None:
        """Its items when every key's values are written in the manifest, else None."""
        if not all(isinstance(values, tuple) for _, values in self.axes):
            return None
        return grid_items({key: list(values) for key, values in self.axes})


def grid_items(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The items of a grid whose keys' values are known: one mapping per combination,
    the first key varying slowest (itertools.product over the keys in manifest order)."""
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


@dataclass(frozen=True)
class Step:
    """One notebook run. ``needs`` is already resolved: a step that did not write
    ``needs`` needs the step above it (none for the first step)."""

    id: str
    notebook: str
    source: Source
    needs: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    parameter_sources: Mapping[str, Source] = field(default_factory=dict)
    needs_sources: tuple[Source, ...] = ()
    timeout: float | None = None
    retries: int = 0
    retry_delay: float = 0.0
    #: The step's ``kernel:``, else ``defaults.kernel``, else the notebook's kernelspec
    #: name, else python3 (papermill's own default is the notebook's kernel).
    kernel: str = "python3"
    #: Where the manifest sets ``kernel`` (the step's or the defaults' value); None when
    #: the kernel is the notebook's or python3.
    kernel_source: Source | None = None
    inputs: tuple[str, ...] = ()  # globs of files the step reads
    produces: tuple[str, ...] = ()  # globs of files it writes for later steps
    description: str = ""
    outputs: tuple[str, ...] = ()  # declared in the manifest, besides those recorded
    cache: bool | None = None  # the step's or the defaults' `cache:`; None: not set
    #: the step's ``report:`` keys over the workflow's (``report:`` or ``defaults.report``)
    report: ReportSettings = ReportSettings()
    #: ``foreach:``: a literal list, one expression naming a list, or a grid; None:
    #: run once.
    foreach: tuple[Any, ...] | str | Grid | None = None
    foreach_source: Source | None = None
    run_if: RunIf = RunIf.ALL_SUCCEEDED
    #: ``if:``: one ``${{ … }}`` condition (manifest/conditions.py); None: always
    condition: str | None = None
    condition_source: Source | None = None
    wait_for: WaitFor | None = None
    sla: float | None = None  # seconds from the step's start; None: none

    @property
    def foreach_data(self) -> Any:
        """``foreach:`` as plain data, for walking its expressions (a grid's axes)."""
        return self.foreach.plain() if isinstance(self.foreach, Grid) else self.foreach

    @property
    def is_sweep(self) -> bool:
        """Whether the step runs once per item of its ``foreach:``."""
        return self.foreach is not None


@dataclass(frozen=True)
class Schedule:
    """One ``on.schedule`` entry: a cron read in ``timezone`` (None: UTC)."""

    cron: str
    timezone: str | None = None


@dataclass(frozen=True)
class Triggers:
    schedule: tuple[Schedule, ...] = ()
    push_paths: tuple[str, ...] = ()
    #: ``on.push.branches``; empty: the repository's default branch only
    push_branches: tuple[str, ...] = ()
    dispatch: bool = False


@dataclass(frozen=True)
class CiSettings:
    """The manifest's ``ci:``: how ``nbflow ci generate`` lays out its jobs."""

    per_step: bool = False  # `jobs: per-step`
    runs_on: str | tuple[str, ...] | None = None  # every job's runner; None: ubuntu-latest
    environment: str | None = None  # the GitHub environment of the jobs given secrets
    #: ``steps.<id>.runs-on``: a step job's own runner (per-step only)
    step_runs_on: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Notify:
    on_failure: tuple[str, ...] = ()
    on_success: tuple[str, ...] = ()
    on_sla_miss: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workflow:
    """A loaded, checked manifest."""

    name: str
    manifest: Path
    source: Source
    steps: tuple[Step, ...]
    description: str = ""
    triggers: Triggers = Triggers()
    parameters: tuple[Parameter, ...] = ()
    secrets: tuple[str, ...] = ()
    defaults: Defaults = Defaults()
    notify: Notify = Notify()
    commit_target: str | None = None  # `commit.target`; None: the project's default
    #: What ``nbflow validate`` warns about: worth fixing, but the workflow runs.
    warnings: tuple[Problem, ...] = ()
    ci: CiSettings = CiSettings()
    sla: float | None = None  # seconds from the run's start; None: none

    @property
    def directory(self) -> Path:
        """The workflow folder: notebooks' paths and the steps' working directory."""
        return self.manifest.parent

    def step(self, step_id: str) -> Step:
        return self._steps_by_id[step_id]

    @functools.cached_property
    def _steps_by_id(self) -> dict[str, Step]:
        return {step.id: step for step in self.steps}

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def notebook_path(self, step: Step) -> Path:
        return self.directory / step.notebook
