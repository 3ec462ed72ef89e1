"""Kernels started ahead of need, each used by exactly one step, killed off the
critical path.

Starting an ipykernel takes ~0.5 s on a small machine and a graceful shutdown can
stall for 2.5 s when the kernel ignores the request; for a chain of short notebooks
that is most of the run. So the runner asks a :class:`KernelPool` to *warm* a
kernel for each step about to become ready while earlier steps execute, a step
*takes* its own kernel (started now if none was warmed), and *releases* it once its
notebook is saved: the kernel is killed at once (``now=True``, SIGKILL) on a
background thread. One kernel process is :class:`~nbflow.engine.kernel.Kernel`.

Design decisions:

- A kernel is never reused across steps: every step gets a fresh process, so no
  variable, import or open file leaks from one notebook into the next. Warming only
  moves the start earlier.
- A kernel's working directory and environment are fixed when its process starts,
  so kernels are keyed by :class:`KernelSpec` (kernel name, cwd, environment); the
  environment names the step (``NBFLOW_STEP``), so in practice a warm kernel is
  made for one step.
- The pool is bounded (``size``), and :meth:`KernelPool.close` kills every kernel it
  started, warm or in use, including on Ctrl-C: nothing outlives the run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from nbflow.engine import forkserver
from nbflow.engine.forkserver import ForkServer
from nbflow.engine.kernel import Kernel, KernelSpec, kernel_specs
from nbflow.engine.loops import closing_loop

__all__ = ["Kernel", "KernelPool", "KernelSpec"]

log = logging.getLogger(__name__)

START_ATTEMPTS = 3  # kernels started for one step when each ends while starting


class KernelPool:
    """Warm kernels keyed by spec, at most ``size`` of them; thread-safe.

    Kernels are forked from a template (:mod:`nbflow.engine.forkserver`) that
    :meth:`start` starts (the first kernel does, if nobody called it), with ``env``
    added to this process's environment: give it what every kernel of the run
    shares and nothing a kernel must not see. A pool that starts no kernel (every
    step cached) costs nothing.
    """

    def __init__(self, size: int, env: Mapping[str, str] | None = None) -> None:
        self.size = max(1, size)
        self._env = env
        self._forks: ForkServer | None = None
        self._specs: Any = None  # the run's kernel specs, looked up once (kernel.py)
        self._lock = threading.Lock()
        self._warm: dict[KernelSpec, list[Future[Kernel]]] = {}
        self._live: set[Kernel] = set()  # every kernel started and not yet killed
        self._starter = ThreadPoolExecutor(2, thread_name_prefix="kernel-start")
        self._stopper = ThreadPoolExecutor(2, thread_name_prefix="kernel-stop")
        self._closed = False

    def start(self) -> None:
        """Start the template kernels are forked from, if forking is on; call it
        early, from a thread that lives as long as the pool (the template dies with
        the thread that started it), so its imports overlap other work."""
        with self._lock:
            if self._specs is None:
                self._specs = kernel_specs()
            if self._forks is None and not self._closed and forkserver.enabled():
                self._forks = ForkServer(self._env)

    def warming(self) -> int:
        """How many kernels are warm or starting."""
        with self._lock:
            return sum(len(f) for f in self._warm.values())

    def warm(self, spec: KernelSpec) -> bool:
        """Start a kernel for ``spec`` in the background unless one is already warm
        for it or the pool is full; True when one was started."""
        self.start()
        with self._lock:
            if self._closed or self._warm.get(spec):
                return False
            if sum(len(f) for f in self._warm.values()) >= self.size:
                return False
            future = self._starter.submit(self._start, spec)
            self._warm.setdefault(spec, []).append(future)
            return True

    def take(self, spec: KernelSpec) -> Kernel:
        """A started kernel for ``spec``: a warm one when there is, else a new one."""
        self.start()
        with self._lock:
            futures = self._warm.get(spec) or []
            future = futures.pop(0) if futures else None
        if future is not None:
            try:
                return future.result()
            except Exception:  # the warm start failed: try once more, now, to report why
                log.debug("warming a kernel failed", exc_info=True)
        return self._start(spec)

    def release(self, kernel: Kernel) -> None:
        """Kill ``kernel`` in the background; its step is done with it."""
        with self._lock:
            if not self._closed:
                self._stopper.submit(self._kill, kernel)
                return
        self._kill(kernel)

    def discard(self, spec: KernelSpec) -> None:
        """Kill kernels warmed for ``spec`` (its step will not run)."""
        with self._lock:
            futures = self._warm.pop(spec, [])
        for future in futures:
            future.add_done_callback(self._kill_result)

    def close(self) -> None:
        """Kill every kernel this pool started and wait until they are gone."""
        with self._lock:
            self._closed = True
            self._warm.clear()
        self._starter.shutdown(wait=True, cancel_futures=True)
        self._stopper.shutdown(wait=True)
        with self._lock:
            left = list(self._live)
        for kernel in left:
            self._kill(kernel)
        if self._forks is not None:
            self._forks.close()

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self, spec: KernelSpec) -> Kernel:
        """A started kernel; a forked one that ended while starting is replaced (up
        to START_ATTEMPTS kernels), the last one returned as it is (the step reports
        it, and starts a launched one: engine/step.py).

        jupyter_client chooses a kernel's ports and the kernel binds them later: in a
        wide fan-out another process (another kernel's client) can take one in
        between, and the kernel exits. Another fork gets other ports."""
        kernel = self._started(spec)
        for _ in range(START_ATTEMPTS - 1):
            if not kernel.ended_while_starting():
                break
            log.debug("a kernel ended while starting: %s", kernel.log_text()[-500:])
            self._kill(kernel)
            kernel = self._started(spec)
        return kernel

    def _started(self, spec: KernelSpec) -> Kernel:
        kernel = Kernel(spec, self._forks, self._specs)
        with self._lock:
            self._live.add(kernel)  # close() kills it even if nobody takes it
        return kernel

    def _kill(self, kernel: Kernel) -> None:
        closing_loop(kernel.kill)()  # on a pool thread: no loop left open (engine/loops.py)
        with self._lock:
            self._live.discard(kernel)

    def _kill_result(self, future: Future[Kernel]) -> None:
        with contextlib.suppress(Exception):
            self._stopper.submit(self._kill, future.result())
