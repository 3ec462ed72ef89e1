"""What executing one step takes and gives back, apart from executing it: the
:class:`StepTask` (made by engine/tasks.py, read by the cache for fingerprints),
the :class:`StepResult`, and the :class:`KernelHandle` another thread stops a step's
kernel with. Light to import: a run whose steps are all cached needs these, not
:mod:`~nbflow.engine.step` (papermill's side) nor the kernel pool's modules.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbflow.run_record import StepError, StepStatus
from nbflow.secrets import Redactor

if TYPE_CHECKING:
    from nbflow.engine.kernel import KernelSpec
    from nbflow.engine.kernels import KernelPool

__all__ = ["KernelHandle", "StepResult", "StepTask"]


@dataclass(frozen=True)
class StepTask:
    """Everything needed to execute one notebook, resolved."""

    step_id: str
    notebook: Path
    output: Path
    cwd: Path
    parameters: Mapping[str, Any] = field(default_factory=dict)
    kernel: str = "python3"
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    log_output: bool = False
    redactor: Redactor = field(default_factory=lambda: Redactor({}))
    kernels: KernelPool | None = None  # warm kernels; None: start one for this step
    inputs: tuple[str, ...] = ()  # the step's `inputs:` globs, expressions resolved
    produces: tuple[str, ...] = ()  # and its `produces:` globs
    scratch: Path | None = None  # for the unmasked notebook, connection file (None: TMPDIR)
    # write the executed notebook cleaned (store/notebooks.py), paths relative to `root`
    clean: bool = False
    root: Path | None = None

    @property
    def kernel_spec(self) -> KernelSpec:
        from nbflow.engine.kernel import KernelSpec

        return KernelSpec.of(self.kernel, self.cwd, self.env, self.scratch)


@dataclass(frozen=True)
class StepResult:
    status: StepStatus
    start: str
    end: str
    duration: float
    error: StepError | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    # what cleaning moved out of the notebook written (None: none written cleaned)
    timings: dict[str, Any] | None = None


class KernelHandle:
    """A running kernel that another thread may stop (timeout, cancellation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self.reason: str | None = None

    def attach(self, pid: int | None) -> None:
        with self._lock:
            self._pid = pid
            if self.reason is not None:
                self._kill()

    def stop(self, reason: str) -> None:
        """Kill the kernel now; the step ends with ``reason``."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self._kill()

    def _kill(self) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
