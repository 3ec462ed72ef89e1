"""One kernel process, started for one step: launched, or forked from the run's
template; listening before it is handed out; killed at once.

Design decisions:

- The kernel process is started with a plain (synchronous) ``KernelManager`` whose
  clients are ``AsyncKernelClient``: the manager holds no event-loop-bound state
  (its control socket belongs to a plain zmq context), while the client papermill
  creates from it lives in the worker thread's own event loop. A kernel started
  on a pool thread is therefore usable from any worker thread.
- A kernel must not outlive nbflow, even after ``kill -9``. ipykernel's own guard
  (``JPY_PARENT_PID``) is a thread that checks once a second whether its parent
  changed; it never runs while the kernel's main thread holds the GIL (a long C
  call), so such a kernel lingers. On Linux each kernel is therefore started with
  ``PR_SET_PDEATHSIG``: it gets SIGKILL as soon as the thread that started it ends.
  Kernels are started on the pool's starter threads or a step's worker thread, both
  alive until the run ends, so this fires only when nbflow itself is gone.
- On Linux a kernel is forked from the run's template process rather than launched
  (:mod:`nbflow.engine.forkserver`, through a jupyter_client provisioner), and is
  handed out only once it listens on all its ports: a client that connects
  earlier is refused and zmq waits 0.1 s before trying again.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nbflow.engine.forkserver import (
    LAUNCHER,
    PR_SET_PDEATHSIG,
    ForkedProcess,
    ForkError,
    ForkServer,
)

log = logging.getLogger(__name__)

ASYNC_CLIENT = "jupyter_client.asynchronous.AsyncKernelClient"
LISTEN_TIMEOUT, LISTEN_POLL = 30.0, 0.005  # waiting for a started kernel's ports
# after a listening socket's local port in /proc/net/tcp and tcp6: no remote end, LISTEN
TCP_LISTENING = (b"00000000:0000 0A ", b"00000000000000000000000000000000:0000 0A ")
KILL_POLL = 0.005
# given to every ipykernel nbflow starts: no IPython history database. Each kernel
# otherwise opened the user's history.sqlite, wrote its session and every cell into
# it from a thread of its own (32 kernels at once in a fan-out, contending for one
# file); `In`, `_ih` and `%history` of the step's own cells still work, from memory.
IPYKERNEL_ARGUMENTS = ("--HistoryManager.enabled=False",)


@dataclass(frozen=True)
class KernelSpec:
    """What a kernel process is started with; equal specs are interchangeable."""

    kernel: str
    cwd: str
    env: tuple[tuple[str, str], ...]  # only what differs from os.environ, sorted
    scratch: str | None = None  # the folder for its connection file (None: TMPDIR)

    @classmethod
    def of(
        cls,
        kernel: str,
        cwd: os.PathLike[str] | str,
        env: Mapping[str, str],
        scratch: os.PathLike[str] | None = None,
    ) -> KernelSpec:
        folder = os.fspath(scratch) if scratch is not None else None
        return cls(kernel, os.fspath(cwd), tuple(sorted(env.items())), folder)


class Kernel:
    """One started kernel process, for one step; forked from ``forks``' template
    when it can be, else launched."""

    def __init__(
        self, spec: KernelSpec, forks: ForkServer | None = None, specs: Any = None
    ) -> None:
        self.spec = spec
        self.log: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115 (closed by kill)
            "w+", encoding="utf-8", errors="replace"
        )
        shared = {"kernel_spec_manager": specs} if specs is not None else {}
        self.km: Any = _manager_class()(
            kernel_name=spec.kernel, client_class=ASYNC_CLIENT, **shared
        )
        if spec.scratch is not None:  # see engine/scratch.py
            import uuid

            self.km.connection_file = os.path.join(spec.scratch, f"kernel-{uuid.uuid4()}.json")
        if forks is not None:
            self.km.provisioner = _fork_provisioner(self.km, forks)
        env = {**os.environ, **dict(spec.env)}
        try:
            self.km.start_kernel(
                extra_arguments=_extra_arguments(self.km.kernel_spec.argv),
                cwd=spec.cwd,
                env=env,
                stdout=self.log,
                stderr=self.log,
                preexec_fn=die_with_parent(),
            )
        except BaseException:
            self.log.close()
            raise
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        """Return once the kernel listens on all its ports (or died, or LISTEN_TIMEOUT
        passed: the client's own wait then reports it).

        A client connecting before the kernel listens is refused, and zmq retries
        only after its reconnect interval (0.1 s): most of a forked kernel's start.
        A forked kernel says when it listens (:mod:`nbflow.engine.forkserver`); a
        launched one's sockets are looked up in the system's table of listening ones,
        not probed with connections: a probe takes an ephemeral port, which another
        kernel may have been given to bind.
        """
        process = self.km.provisioner.process
        if (
            isinstance(process, ForkedProcess)
            and process.wait_listening(LISTEN_TIMEOUT) is not False
        ):
            return  # it said so (or never did: the client's wait reports it)
        info = self.km.get_connection_info()
        if info.get("transport") != "tcp":
            return
        ports = {info[f"{name}_port"] for name in ("shell", "iopub", "stdin", "control", "hb")}
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _SOCKETS.listening(ports) is not False:
                return
            time.sleep(LISTEN_POLL)

    def ended_while_starting(self) -> bool:
        """Whether this forked kernel ended before it said it listens (it could not
        bind a port it was given); False for a launched one, whose client reports it."""
        process = self.km.provisioner.process
        return isinstance(process, ForkedProcess) and process.poll() is not None

    @property
    def pid(self) -> int | None:
        provisioner = self.km.provisioner
        return getattr(provisioner, "pid", None) if provisioner else None

    def log_text(self) -> str:
        """What the kernel wrote to its stdout and stderr so far."""
        with contextlib.suppress(OSError, ValueError):
            self.log.seek(0)
            return self.log.read()
        return ""

    def close_clients(self) -> None:
        """Close the clients made for this kernel (their sockets and zmq context);
        call from the thread that used them."""
        for client in self.km.clients:
            with contextlib.suppress(Exception):
                client.stop_channels()
                client.context.destroy(linger=0)
        self.km.clients.clear()

    def kill(self) -> None:
        """Kill the process at once and free its ports and connection file."""
        try:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
        except Exception:  # already gone: nothing left to clean up
            log.debug("kernel shutdown failed", exc_info=True)
        finally:
            with contextlib.suppress(OSError):
                self.log.close()


def _extra_arguments(argv: list[str]) -> list[str]:
    """What nbflow adds to a kernel's command line: IPYKERNEL_ARGUMENTS for an
    ipykernel (``python -m ipykernel_launcher`` or ``-m ipykernel``), else nothing."""
    return list(IPYKERNEL_ARGUMENTS) if argv[1:3] in (["-m", LAUNCHER], ["-m", "ipykernel"]) else []


def prepare_classes() -> None:
    """Make the jupyter_client classes below now, on this thread (building a traitlets
    class is not free, and step threads starting together would each build it)."""
    _manager_class()
    _client_class()
    _fork_provisioner_class()
    _spec_manager_class()


def kernel_specs() -> Any:
    """A KernelSpecManager that looks each kernel's spec up once, for the kernels of
    one run to share (each KernelManager otherwise searches the kernel folders and
    reads kernel.json again)."""
    return _spec_manager_class()()


@functools.cache
def _spec_manager_class() -> type[Any]:
    from jupyter_client.kernelspec import KernelSpecManager

    class RunKernelSpecs(KernelSpecManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._found: dict[str, Any] = {}
            self._finding = threading.Lock()

        def _kernel_dirs_default(self) -> list[str]:
            """jupyter_client's kernel folders, without importing IPython (~30 ms of
            CPU before nbflow's first kernel) to ask it for its folder's name."""
            from jupyter_core.paths import jupyter_path

            home = os.environ.get("IPYTHONDIR") or os.path.join("~", ".ipython")
            return [*jupyter_path("kernels"), os.path.join(os.path.expanduser(home), "kernels")]

        def get_kernel_spec(self, kernel_name: str) -> Any:
            with self._finding:
                if kernel_name not in self._found:  # an unknown kernel raises each time
                    self._found[kernel_name] = super().get_kernel_spec(kernel_name)
                return self._found[kernel_name]

    return RunKernelSpecs


@functools.cache
def _manager_class() -> type[Any]:
    """jupyter_client's KernelManager, remembering the clients it makes so a step can
    close them (papermill leaves them open when it did not start the kernel)."""
    from jupyter_client.manager import KernelManager

    client_class = _client_class()

    class StepKernelManager(KernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.client_factory = client_class
            self.clients: list[Any] = []

        def client(self, **kwargs: Any) -> Any:
            made = super().client(**kwargs)
            self.clients.append(made)
            return made

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            # a killed kernel is gone within milliseconds: polling every 0.1 s made
            # each kill take 0.1 s, and closing the pool wait for all of them
            import asyncio  # not at the top: a run whose steps are all cached needs no asyncio

            while await self._async_is_alive():
                await asyncio.sleep(KILL_POLL)

    return StepKernelManager


class _SocketTable:
    """The system's tables of TCP sockets (Linux: ``/proc/net/tcp*``), read at most
    once per LISTEN_POLL for all the kernels waiting at once.

    With a thousand sockets on the machine one reading costs ~3 ms (the system
    writes the table out) and splitting it into fields in Python ~3 ms more, on
    nbflow's GIL: every starting kernel polling every 5 ms took a CPU. Ports are
    now looked up in the text as it is (``:PORT`` with no remote end and the
    LISTEN state), and one reading serves every waiting kernel.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read_at = -LISTEN_POLL
        self._text: bytes | None = None

    def listening(self, ports: set[int]) -> bool | None:
        """Whether something listens on every port; None when the system does not say."""
        with self._lock:
            if time.monotonic() - self._read_at >= LISTEN_POLL:
                self._text = _read_tables()
                self._read_at = time.monotonic()
            text = self._text
        if text is None:
            return None
        return all(_listens(text, port) for port in ports)


def _read_tables() -> bytes | None:
    tables = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            tables.append(Path(table).read_bytes())
        except OSError:
            continue
    return b"".join(tables) if tables else None


def _listens(text: bytes, port: int) -> bool:
    """Whether a line of ``/proc/net/tcp*`` says a socket listens on ``port``: local
    ``ADDRESS:PORT`` (hex), remote address and port all zero, state 0A (LISTEN)."""
    local = f":{port:04X} ".encode()
    return any(local + zero in text for zero in TCP_LISTENING)


_SOCKETS = _SocketTable()


def _fork_provisioner(km: Any, forks: ForkServer) -> Any:
    """A provisioner for ``km`` that forks its kernel from the template when it can."""
    import uuid

    km.kernel_id = str(uuid.uuid4())
    provisioner = _fork_provisioner_class()(
        kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km
    )
    provisioner.forks = forks
    return provisioner


@functools.cache
def _fork_provisioner_class() -> type[Any]:
    """jupyter_client's local provisioner, launching through the fork server."""
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    class ForkProvisioner(LocalProvisioner):
        forks: ForkServer

        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            env = kwargs.get("env") or dict(os.environ)
            if self.forks.can_fork(cmd, env):
                try:
                    cwd = os.fspath(kwargs.get("cwd") or os.getcwd())
                    process = self.forks.spawn(cmd, cwd, env, kwargs["stdout"])
                except ForkError as exc:
                    log.warning("%s; launching the kernel instead", exc)
                else:
                    self.process = process  # type: ignore[assignment]
                    self.pid = self.pgid = process.pid  # it leads its own process group
                    self.cwd = cwd
                    return self.connection_info
            return await super().launch_kernel(cmd, **kwargs)

    return ForkProvisioner


@functools.cache
def _client_class() -> type[Any]:
    """An AsyncKernelClient that knows a kernel is ready sooner.

    jupyter_client's ``wait_for_ready`` waits 0.2 s for *any* IOPub message after the
    kernel_info reply (often missing when the subscription is a few milliseconds
    late, which costs another 1.2 s round), then 0.2 s more of IOPub silence. For a
    warm kernel that is most of a short step. Here the kernel is ready once the
    reply *and* its ``idle`` status on IOPub have arrived; nbclient ignores IOPub
    messages of other requests, so nothing needs flushing.

    It starts no heartbeat channel: a thread per step, pinging the kernel every
    second, that nothing listens to (a client its KernelManager made asks the
    manager whether the kernel lives, and nbflow watches the process itself).
    """
    from queue import Empty

    from jupyter_client.asynchronous.client import AsyncKernelClient

    class StepKernelClient(AsyncKernelClient):
        def start_channels(self, *args: Any, **kwargs: Any) -> None:
            kwargs["hb"] = False
            super().start_channels(*args, **kwargs)

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
            while True:
                msg_id = self.kernel_info()
                reply = await self._reply_to(msg_id, min(1.0, deadline - time.monotonic()))
                if reply is not None and await self._idle_after(msg_id, 0.1):
                    self._handle_kernel_info_reply(reply)
                    return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

        async def _reply_to(self, msg_id: str, wait: float) -> dict[str, Any] | None:
            return await self._matching(self.shell_channel, msg_id, wait, "kernel_info_reply")

        async def _idle_after(self, msg_id: str, wait: float) -> bool:
            return await self._matching(self.iopub_channel, msg_id, wait, "status") is not None

        async def _matching(
            self, channel: Any, msg_id: str, wait: float, msg_type: str
        ) -> dict[str, Any] | None:
            end = time.monotonic() + max(wait, 0.01)
            while (left := end - time.monotonic()) > 0:
                try:
                    msg: dict[str, Any] = await channel.get_msg(timeout=left)
                except Empty:
                    return None
                if _is_answer(msg, msg_id, msg_type):
                    return msg
            return None

    return StepKernelClient


def _is_answer(msg: dict[str, Any], msg_id: str, msg_type: str) -> bool:
    """Whether ``msg`` is the reply (or the final ``idle`` status) to ``msg_id``."""
    if msg["parent_header"].get("msg_id") != msg_id or msg["msg_type"] != msg_type:
        return False
    return msg_type != "status" or msg["content"].get("execution_state") == "idle"


def start_kernel(spec: KernelSpec) -> Kernel:
    """Start a kernel now, outside any pool (the caller kills it)."""
    return Kernel(spec)


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the kernel die with the thread that starts it (Linux);
    None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, not after
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: no imports, no locks
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # nbflow died before prctl took effect
            os._exit(1)

    return preexec
