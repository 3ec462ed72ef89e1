"""Importing papermill once per run, and building once what every step's thread
would otherwise build for itself.

In a fan-out, nbflow's main process is the bottleneck: one interpreter (one GIL)
runs every step's papermill and nbclient loop, and papermill's import comes first,
before any step starts. Profiled (``py-spy record --gil``, 8 × 1 s steps) most of
the process's CPU went to work no step needs, done here once or not at all:

- papermill's I/O module imports PyGithub for ``github://`` notebook paths, which
  nbflow never hands it; with its ``jwt`` and ``cryptography`` imports that was a
  quarter of papermill's import. It is hidden while papermill is imported (a
  ``None`` in ``sys.modules``, which makes ``import github`` fail as if missing:
  papermill then refuses only ``github://`` paths); nbflow's own GitHub code
  imports it as usual afterwards.
- nbformat validates every notebook papermill reads and writes with a
  fastjsonschema check it compiles on first use, per process and per format
  version; steps starting together each compiled it (nbformat's cache is filled
  only after a compile). nbflow has already compiled that schema file's check to
  read the step's notebook, and keeps it on disk (:mod:`nbflow.manifest.fast_schema`):
  nbformat is given that check, once, under a lock.
- jupyter_client's classes nbflow derives (:mod:`nbflow.engine.kernel`) are made on
  this thread, not by every step's thread at once.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable
from typing import Any

from nbflow.engine import papermill_files
from nbflow.manifest.notebook_file import nbformat_check

__all__ = ["load_papermill", "prime_nbformat"]

UNUSED_BY_NBFLOW = ("github",)  # papermill's optional I/O handlers nbflow never uses
_priming = threading.Lock()
_primed: set[tuple[int, int]] = set()


def load_papermill() -> None:
    """Import papermill (and with it nbclient and jupyter_client) now, on this
    thread, before step and kernel threads need it: the kernel template starts
    meanwhile, and threads importing one package at once can see it half
    initialised ("cannot import name ... from partially initialized module")."""
    with contextlib.suppress(Exception):  # the step that needs it will report why
        with _hidden(UNUSED_BY_NBFLOW):
            papermill_files.use()  # imports papermill
        from nbflow.engine.kernel import prepare_classes

        prepare_classes()


@contextlib.contextmanager
def _hidden(names: tuple[str, ...]) -> Any:
    """Make ``import NAME`` fail for these not-yet-imported modules while inside."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import halted"
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def prime_nbformat(major: int, minor: int) -> None:
    """Give nbformat the fastjsonschema check of nbformat ``major.minor`` that nbflow
    compiled (or kept) already, before papermill reads a notebook of that format;
    nbformat compiles its own when this cannot (another validator chosen, a format
    nbflow has no schema file for, an nbformat without these internals)."""
    with _priming:
        if (major, minor) in _primed:
            return
        _primed.add((major, minor))
        check = nbformat_check(major, minor)
        if check is not None:
            with contextlib.suppress(Exception):  # nbformat compiles its own
                _give_nbformat(major, minor, check)


def _give_nbformat(major: int, minor: int, check: Callable[[Any], Any]) -> None:
    from nbformat import validator
    from nbformat.json_compat import (
        FastJsonSchemaValidator,
        JsonSchemaValidator,
        get_current_validator,
    )

    current = get_current_validator()  # type: ignore[no-untyped-call]
    key = (current.name, major, minor, False)  # nbformat's key: relax_add_props=False
    if current is not FastJsonSchemaValidator or key in validator.validators:
        return
    version = importlib.import_module(f"nbformat.v{major}")
    schema = validator._get_schema_json(version, version=major, version_minor=minor)  # type: ignore[no-untyped-call]
    made = FastJsonSchemaValidator.__new__(FastJsonSchemaValidator)
    JsonSchemaValidator.__init__(made, schema)  # type: ignore[no-untyped-call]
    made._validator = check  # what FastJsonSchemaValidator.__init__ compiles
    validator.validators.setdefault(key, made)
