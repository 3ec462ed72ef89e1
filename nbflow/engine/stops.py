"""Kernels nbflow stops on purpose: their death is not papermill's to report.

When a step's timeout passes or the run is cancelled, nbflow kills the step's
kernel (step.py, ``KernelHandle.stop``). nbclient, waiting for the running cell's
reply, then logs ``Kernel died while waiting for execute reply.`` on papermill's
logger at ERROR, as if the kernel had crashed (or, when the stop comes while the
kernel is still starting, as on a loaded machine, ``Error occurred while starting
new kernel client …: Kernel died before replying to kernel_info``), although nbflow reports the stop
itself (``timed out after 3 s``, ``cancelled``). A filter on papermill's logger drops
that line when it comes from the thread executing a step whose kernel nbflow
stopped. A kernel that dies on its own is still logged, and its step fails with
``DeadKernelError``.

A filter rather than a higher level for papermill's logger: the same line is the
first sign of a kernel that really crashed, and with ``--log-output`` that logger
carries the notebook's output too. Keyed by thread, because nbclient logs on the
thread that executes the notebook, and steps execute in parallel threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Protocol

#: In every nbclient message about a dead kernel: "Kernel died while waiting for
#: execute reply.", "… Kernel died before replying to kernel_info".
KERNEL_DIED = "Kernel died"


class Stoppable(Protocol):
    """A kernel handle: ``reason`` is set once nbflow has stopped the kernel."""

    @property
    def reason(self) -> str | None: ...


_executing = threading.local()  # .handle: the Stoppable of the step this thread executes


class _StoppedKernelFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        handle: Stoppable | None = getattr(_executing, "handle", None)
        stopped = handle is not None and handle.reason is not None
        return not (stopped and KERNEL_DIED in record.getMessage())


_FILTER = _StoppedKernelFilter()


@contextlib.contextmanager
def quiet_when_stopped(handle: Stoppable) -> Iterator[None]:
    """While the body executes a step on this thread, papermill's logger does not
    report the death of the kernel once ``handle`` has stopped it."""
    logging.getLogger("papermill").addFilter(_FILTER)  # once: the same filter each time
    previous = getattr(_executing, "handle", None)
    _executing.handle = handle
    try:
        yield
    finally:
        _executing.handle = previous
