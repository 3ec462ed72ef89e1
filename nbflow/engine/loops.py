"""The event loops jupyter_client leaves behind in nbflow's threads.

jupyter_client's blocking calls (starting, stopping a kernel) run a coroutine on an
event loop jupyter_core makes for the calling thread and never closes. A pool thread
keeps its loop until the process ends; the loop's ``__del__`` then runs during
interpreter shutdown, after its self-pipe socket may have been finalised, and prints
``Exception ignored in: <function BaseEventLoop.__del__ …> … ValueError: Invalid file
descriptor: -1``. So work nbflow hands to its threads closes that thread's loop when
done; the next blocking call on the thread makes a fresh one.

A blocking call made while that loop runs (nbclient cleaning up a kernel that died
while starting, as a step timeout does) goes to a task runner jupyter_core keeps per
thread name: a daemon thread running a loop of its own until the process exits. It
is stopped too, through its private attributes (jupyter_core has no public way).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["close_thread_loop", "closing_loop"]

STOP_WAIT = 5.0  # seconds a task runner's thread has to stop its loop

P = ParamSpec("P")
T = TypeVar("T")


def closing_loop(work: Callable[P, T]) -> Callable[P, T]:
    """``work``, closing its thread's event loop when it returns or raises."""

    @functools.wraps(work)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return work(*args, **kwargs)
        finally:
            close_thread_loop()

    return run


def close_thread_loop() -> None:
    """Close the event loop set for this thread, and jupyter_core's task runner for
    its name, if any (never the main thread's)."""
    if threading.current_thread() is threading.main_thread():
        return
    import asyncio  # here: a run whose steps are all cached needs no asyncio

    _stop_task_runner(threading.current_thread().name)
    policy = asyncio.get_event_loop_policy()
    try:
        loop = policy.get_event_loop()
    except RuntimeError:
        return  # no loop was made on this thread
    if not loop.is_running() and not loop.is_closed():
        loop.close()
    policy.set_event_loop(None)


def _stop_task_runner(name: str) -> None:
    import asyncio

    try:
        from jupyter_core.utils import _runner_map
    except ImportError:
        return
    runner = _runner_map.pop(name, None)
    loop = getattr(runner, "_TaskRunner__io_loop", None)
    thread = getattr(runner, "_TaskRunner__runner_thread", None)
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)  # its thread closes it once stopped
    if isinstance(thread, threading.Thread):
        thread.join(timeout=STOP_WAIT)
