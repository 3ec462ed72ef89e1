"""Kernels: which exist, and making sure none outlives the nbflow that started it.

Design decisions:

- A kernel must not outlive nbflow, even after ``kill -9``. ipykernel's own guard
  (``JPY_PARENT_PID``, set by jupyter_client) is a thread that checks once a second
  whether its parent changed; it never runs while the kernel's main thread holds the
  GIL (a long C call such as ``sum(range(10**11))`` or a regex), so such a kernel
  lingers. On Linux each kernel is therefore started with ``PR_SET_PDEATHSIG``:
  the kernel gets SIGKILL as soon as the thread that started it ends. That thread
  is the step's worker thread, which waits for its kernel, so this only fires when
  nbflow itself is gone. Elsewhere ipykernel's guard is all there is.
- Kernel names are checked when a run starts, before anything is written, so a
  typo in ``kernel:`` is a usage error (exit 2), not a failed step. ``nbflow
  validate`` does not check them: it must not import Jupyter.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Iterable

from nbflow.errors import UsageError
from nbflow.manifest.model import Step

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the kernel die with the thread that starts it (Linux);
    None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, not after
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: no imports, no locks
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # nbflow died before prctl took effect
            os._exit(1)

    return preexec


def check_kernels(steps: Iterable[Step]) -> None:
    """UsageError naming the first step whose kernel is not installed."""
    steps = list(steps)
    if all(step.kernel == "python3" for step in steps):
        return  # ipykernel, a dependency, always provides it
    from jupyter_client.kernelspec import KernelSpecManager

    installed = sorted(KernelSpecManager().find_kernel_specs())
    for step in steps:
        if step.kernel not in installed:
            raise UsageError(
                f"{step.source}: step '{step.id}': no such kernel: {step.kernel}; "
                f"installed kernels: {', '.join(installed) or 'none'} "
                "(`jupyter kernelspec list` shows them)"
            )
