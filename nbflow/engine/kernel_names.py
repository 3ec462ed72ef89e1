"""Kernel names, resolved and checked before a run writes anything.

- Kernel names are resolved as jupyter_client resolves them (``python`` is
  ``python3``, case does not matter) and the resolved name is the one a run uses
  and records.
- Kernel names are checked when a run starts, before anything is written, so a
  typo in ``kernel:``, or a notebook saved with a kernel this machine lacks, is a
  usage error (exit 2) naming where the name comes from, not a failed step.
  ``nbflow validate`` does not check them: it must not import Jupyter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from nbflow.errors import UsageError
from nbflow.manifest.model import Step, Workflow

NATIVE_KERNEL = "python3"  # jupyter_client's NATIVE_KERNEL_NAME, provided by ipykernel


def resolve_kernels(workflow: Workflow) -> Workflow:
    """``workflow`` with each step's kernel named as jupyter_client finds it: ``python``
    is ``python3`` (``KernelManager``) and names are looked up case-insensitively
    (``KernelSpecManager``), so ``Python3`` is ``python3``. A name no kernel has is
    kept as written, for :func:`check_kernels` to report."""
    if all(step.kernel == NATIVE_KERNEL for step in workflow.steps):
        return workflow  # ipykernel, a dependency, always provides it
    installed = _installed_kernels()
    steps = tuple(
        dataclasses.replace(step, kernel=_resolved(step.kernel, installed))
        for step in workflow.steps
    )
    return dataclasses.replace(workflow, steps=steps)


def _resolved(name: str, installed: Iterable[str]) -> str:
    found = (NATIVE_KERNEL if name == "python" else name).lower()
    return found if found in installed else name


def _installed_kernels() -> list[str]:
    from jupyter_client.kernelspec import KernelSpecManager

    return sorted(KernelSpecManager().find_kernel_specs())


def check_kernels(steps: Iterable[Step]) -> None:
    """UsageError naming the first step whose kernel is not installed, and where that
    kernel name comes from: the manifest's ``kernel:`` or the notebook's kernelspec."""
    steps = list(steps)
    if all(step.kernel == NATIVE_KERNEL for step in steps):
        return  # ipykernel, a dependency, always provides it
    installed = _installed_kernels()
    for step in steps:
        if step.kernel not in installed:
            raise UsageError(_unknown_kernel(step, installed))


def _unknown_kernel(step: Step, installed: list[str]) -> str:
    if step.kernel_source is not None:  # the step's or the defaults' `kernel:`
        where, what = f"{step.kernel_source}", f"kernel '{step.kernel}'"
    else:
        notebook = step.source.file.parent / step.notebook
        where, what = f"{notebook}", f"kernel '{step.kernel}' (the notebook's kernelspec)"
    return (
        f"{where}: step '{step.id}': {what} is not installed; "
        f"installed kernels: {', '.join(installed) or 'none'}; install it, or set "
        "`kernel:` on the step or under `defaults:` to an installed kernel"
    )
