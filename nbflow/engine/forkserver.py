"""Fresh kernels forked from a template that has already done the kernel's imports.

A python3 kernel spends most of its ~0.35 s of start-up CPU importing ipykernel,
IPython, zmq, tornado and debugpy. A :class:`ForkServer` starts one *template*
process per run that imports all of that once and then waits; each kernel is a
``fork()`` of it that runs ``python -m ipykernel_launcher -f CONNECTION_FILE`` from
there, exactly as a launched kernel would (same module, ``sys.argv``, ``sys.path``,
working directory and environment). The fork inherits imported modules only:
every step still gets a new process with a new namespace, new sockets, a new
history and a reseeded ``random``, so no state passes from one step to the next.

Design decisions:

- The template imports (and fills the caches a kernel's first cell would fill:
  ``_fill_caches``) and never starts anything: no thread, event loop, zmq
  context or socket exists in it when it forks (it checks its thread count before
  each fork and refuses otherwise), so the child starts from a clean process.
- The template talks to nbflow over a ``SOCK_SEQPACKET`` socket pair: a request is
  one JSON message (argv, cwd, environment) with the kernel's log file and the
  write end of a pipe passed as file descriptors; the answer is the child's pid.
  One request at a time (a lock).
- A forked kernel says when it listens: it writes a byte into that pipe once its
  last socket (the heartbeat's) is bound, and closes it. nbflow hands the kernel out
  then, instead of polling the system's socket tables (``/proc/net/tcp``: ~5 ms of
  CPU per reading with a thousand sockets on the machine, and a reading late by tens
  of milliseconds on a loaded one). A kernel that closes the pipe without the byte
  (it died, or this ipykernel has no ``init_heartbeat``) is watched as a launched
  one is.
- A forked kernel is not nbflow's child, so it is watched through a pidfd (which
  cannot be fooled by a reused pid), signalled as a process group (the child calls
  ``setsid`` as jupyter_client's launcher does), and reaped by the template. Its
  exit status is not known to nbflow; nbflow only ever asks whether it is alive.
- Nothing outlives nbflow: the template dies with the thread that started it
  (``PR_SET_PDEATHSIG``), every kernel dies with the template, and closing the
  server kills the template.
- What cannot be changed after a process starts falls back to a normal launch:
  a kernel that is not this interpreter's ``-m ipykernel_launcher``, or an
  environment that differs from the template's in ``PYTHON*`` or ``LD_*``
  variables. Linux only (pidfd, ``PR_SET_PDEATHSIG``); ``NBFLOW_FORK_KERNELS=0``
  turns it off. One difference remains and is documented: kernels forked from one
  template share its string-hash seed (``PYTHONHASHSEED``), so ``hash("a")`` is the
  same in every step of a run — as if the run had set ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

from nbflow.engine import kernel_argv

log = logging.getLogger(__name__)

SWITCH = "NBFLOW_FORK_KERNELS"
LAUNCHER = "ipykernel_launcher"
MARKER = "nbflow-ipykernel-template"  # in the template's (and its kernels') command line
FIXED_AT_START = ("PYTHON", "LD_")  # environment read once, when an interpreter starts
TEMPLATE_IMPORTS = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "ipykernel.comm",
    "IPython.core.completerlib",
    "IPython.core.magics",
    "IPython.core.history",
    "sqlite3",
    "pdb",
    "http.server",
    # what a forked kernel still imported while it started (its sys.modules at the
    # first cell, less the template's): each kernel imported them again, 8 at once
    # on 2 CPUs in a fan-out
    "IPython.core.debugger",
    "IPython.core.oinspect",
    "IPython.core.logger",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "psutil",
    "tornado.platform.asyncio",
    "faulthandler",
    "runpy",
)
MESSAGE_SIZE = 1 << 20
KERNEL_NAME = b"ipykernel"  # a forked kernel's process name (``ps -e``, ``top``)
PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1  # <linux/prctl.h>
LISTENING = b"L"  # what a forked kernel writes once it listens on all its ports
REPLY_TIMEOUT = 60.0  # the template's imports; a fork itself takes milliseconds


class ForkError(RuntimeError):
    """The template could not fork a kernel (the caller launches one normally)."""


def enabled() -> bool:
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "pidfd_open")
        and os.environ.get(SWITCH, "1") != "0"
    )


class ForkedProcess:
    """A kernel forked by the template, with the parts of ``subprocess.Popen``
    jupyter_client's provisioner uses."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, listening: int | None = None) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._listening = listening  # the read end of the kernel's "listening" pipe
        self._said = False  # whether it wrote LISTENING into it
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:  # it ended already (a port it was given was taken)
            self.returncode = 0
            self._close_listening()

    def wait_listening(self, timeout: float) -> bool | None:
        """True once the kernel said it listens on all its ports; False when it closed
        the pipe without saying so (it died, or could not tell); None after
        ``timeout`` seconds of silence."""
        if self._listening is not None:
            ready, _, _ = select.select([self._listening], [], [], timeout)
            if not ready:
                return None
            try:
                self._said = os.read(self._listening, 1) == LISTENING
            finally:
                self._close_listening()
        return self._said

    def _close_listening(self) -> None:
        if self._listening is not None:
            with contextlib.suppress(OSError):
                os.close(self._listening)
            self._listening = None

    def poll(self) -> int | None:
        self._watch(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._watch(timeout):
            raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None and self._pidfd is not None:
            signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def _watch(self, timeout: float | None) -> bool:
        """Whether the process has ended, waiting up to ``timeout`` (None: as long as
        it takes) for it to end."""
        if self.returncode is None and self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if ready:
                self.returncode = 0  # reaped by the template; nbflow only needs "not alive"
                os.close(self._pidfd)
                self._pidfd = None
                self._close_listening()
        return self.returncode is not None


class ForkServer:
    """One template process for a run; :meth:`spawn` forks a kernel from it."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = {**os.environ, **(env or {})}
        self._lock = threading.Lock()
        self._ready = False
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close)
            "w+", encoding="utf-8", errors="replace"
        )
        code = f"import nbflow.engine.forkserver as f; f.serve({theirs.fileno()}, {os.getpid()})"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, MARKER],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()

    def can_fork(self, argv: Sequence[str], env: Mapping[str, str]) -> bool:
        """Whether a kernel started with ``argv`` and ``env`` can be forked from the
        template rather than launched."""
        if list(argv[1:3]) != ["-m", LAUNCHER] or not _same_python(argv[0]):
            return False
        changed = {k for k in env.keys() | self.env.keys() if env.get(k) != self.env.get(k)}
        return not any(name.startswith(FIXED_AT_START) for name in changed)

    def spawn(
        self, argv: Sequence[str], cwd: str, env: Mapping[str, str], log: IO[str]
    ) -> ForkedProcess:
        """Fork a kernel running ``argv[3:]`` as ``-m ipykernel_launcher`` arguments;
        its output goes to ``log``."""
        request = {"args": list(argv[3:]), "cwd": cwd, "env": dict(env)}
        listening, said = os.pipe()
        try:
            with self._lock:
                if not self._ready:
                    self._answer()  # the template says it has done its imports
                    self._ready = True
                fds = [log.fileno(), said]
                socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
                os.close(said)  # the kernel holds it now: closed there, the pipe ends
                said = -1
                answer = self._answer()
        except BaseException as exc:
            os.close(listening)
            if isinstance(exc, (OSError, ValueError)):
                raise ForkError(f"kernel template failed: {exc}{self._log_tail()}") from exc
            raise
        finally:
            if said != -1:
                os.close(said)
        if "pid" not in answer:
            os.close(listening)
            raise ForkError(f"kernel template refused: {answer.get('error')}")
        return ForkedProcess(int(answer["pid"]), listening)  # it closes `listening`

    def close(self) -> None:
        """Stop the template; the kernels forked from it die with it."""
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        with contextlib.suppress(OSError):
            self._log.close()

    def _answer(self) -> dict[str, Any]:
        self._sock.settimeout(REPLY_TIMEOUT)
        data = self._sock.recv(MESSAGE_SIZE)
        if not data:
            raise ValueError("the template exited")
        answer: dict[str, Any] = json.loads(data)
        return answer

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._log.seek(0)
            lines = [line for line in self._log.read().splitlines() if line.strip()]
            return ("; template log: " + " | ".join(lines[-3:])) if lines else ""
        return ""


def _same_python(executable: str) -> bool:
    import shutil

    found = shutil.which(executable) if os.sep not in executable else executable
    return found is not None and os.path.realpath(found) == os.path.realpath(sys.executable)


# --- the template process -------------------------------------------------------


def serve(fd: int, parent: int) -> None:
    """The template's main loop: import, then fork a kernel per request until
    nbflow (pid ``parent``) closes the socket."""
    import importlib

    _die_with(parent)
    for name in TEMPLATE_IMPORTS:
        with contextlib.suppress(Exception):  # optional parts (debugpy) may be missing
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        _fill_caches()
    signal.signal(signal.SIGCHLD, _reap)
    sock = socket.socket(fileno=fd)
    sock.send(json.dumps({"ready": True}).encode())
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MESSAGE_SIZE, 2)
        except InterruptedError:  # pragma: no cover (PEP 475 retries)
            continue
        if not data:
            os._exit(0)
        request = json.loads(data)
        with contextlib.suppress(Exception):  # else the kernel parses it itself
            kernel_argv.parse_in_template(request["args"])
        if threading.active_count() != 1:
            sock.send(json.dumps({"error": "the template started a thread"}).encode())
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become_kernel(request, fds, sock)
        for extra in fds:
            os.close(extra)
        sock.send(json.dumps({"pid": pid}).encode())


def _fill_caches() -> None:
    """Fill the process-wide caches each kernel would fill again for its first cell:
    IPython's input transformer tokenizes the cell, and ``tokenize`` and the
    transformer compile their regular expressions on first use (~2.5 ms of CPU per
    kernel, a tenth of its start). Only caches: no IPython shell, no thread."""
    from IPython.core.inputtransformer2 import TransformerManager

    TransformerManager().transform_cell("import time\ntime.sleep(0)\n")  # type: ignore[no-untyped-call]


def _say_when_listening(fd: int) -> None:
    """Write LISTENING to ``fd`` (and close it) once the kernel has bound its last
    socket; close it at once when this ipykernel cannot be hooked."""
    try:
        from ipykernel.kernelapp import IPKernelApp

        bind_last = IPKernelApp.init_heartbeat  # after the shell, stdin, control, iopub
    except (ImportError, AttributeError):
        os.close(fd)
        return

    def init_heartbeat(self: Any) -> None:
        bind_last(self)  # type: ignore[no-untyped-call]
        with contextlib.suppress(OSError):
            os.write(fd, LISTENING)
        with contextlib.suppress(OSError):
            os.close(fd)

    # this process's class only (the template's and other kernels' are unchanged)
    IPKernelApp.init_heartbeat = init_heartbeat  # type: ignore[method-assign]


def _reap(signum: int, frame: Any) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _die_with(parent: int) -> None:
    """SIGKILL when ``parent`` (nbflow for the template, the template for a kernel)
    dies; exit at once if it already has."""
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:
        os._exit(1)


def _prctl(option: int, argument: int | bytes) -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(option, argument, 0, 0, 0)


def _become_kernel(request: dict[str, Any], fds: list[int], sock: socket.socket) -> None:
    """In the forked child: become ``python -m ipykernel_launcher ARGS``, saying on
    ``fds[1]`` when it listens; its output goes to ``fds[0]``. Never returns."""
    code, template = 1, os.getppid()
    log_fd, listening = fds[0], fds[1] if len(fds) > 1 else None
    try:
        if listening is not None:
            _say_when_listening(listening)
        kernel_argv.use_in_kernel(request["args"])
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        sock.close()
        os.setsid()
        _die_with(template)
        _prctl(PR_SET_NAME, KERNEL_NAME)  # for ps -e and top; its command line is the template's
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(devnull)
        os.close(log_fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["JPY_PARENT_PID"] = str(template)  # its parent is the template
        import time

        time.tzset()
        for name in [m for m in sys.modules if m == "nbflow" or m.startswith("nbflow.")]:
            del sys.modules[name]  # a notebook's `import nbflow` starts afresh
        sys.path[0] = os.getcwd()  # as `python -m` sets it
        sys.argv = [LAUNCHER, *request["args"]]
        import runpy

        runpy.run_module(LAUNCHER, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
