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
- papermill's import registers the engines and I/O handlers other packages offer
  as entry points, scanning every installed distribution's metadata twice (~20 ms
  of CPU with 140 packages). nbflow runs notebooks with its own engine
  (:data:`ENGINE`) on local paths only, so the scan finds nothing it uses: it is
  skipped (papermill's ``entrypoints.get_group_all`` answers nothing while papermill
  is imported).
- nbformat validates every notebook papermill reads and writes with a
  fastjsonschema check it compiles on first use, per process and per format
  version; steps starting together each compiled it (nbformat's cache is filled
  only after a compile). nbflow has already compiled that schema file's check to
  read the step's notebook, and keeps it on disk (:mod:`nbflow.manifest.fast_schema`):
  nbformat is given that check, once, under a lock.
- jupyter_client's classes nbflow derives (:mod:`nbflow.engine.kernel`) are made on
  this thread, not by every step's thread at once.
- papermill writes its output notebook when the notebook starts, when each cell
  starts and ends, and at the end (11 writes for a 4-cell notebook, each validated
  and serialised). nbflow's output is a scratch draft it reads once, after
  papermill returns; so steps run with :data:`ENGINE`, which writes it only at the
  end — in papermill's ``finally``, so a kernel killed by a timeout or Ctrl-C still
  leaves the notebook with its running cell marked, as before.
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

__all__ = ["ENGINE", "load_papermill", "prime_nbformat"]

ENGINE = "nbflow"  # papermill's engine_name for steps: nbclient, saving at the end only
UNUSED_BY_NBFLOW = ("github",)  # papermill's optional I/O handlers nbflow never uses
_priming, _loading = threading.Lock(), threading.Lock()
_loaded: list[str | None] = []  # load_papermill's answer, once it has run
_primed: set[tuple[int, int]] = set()


def load_papermill() -> str | None:
    """Import papermill (and with it nbclient and jupyter_client) now, on this
    thread, before step and kernel threads need it: the kernel template starts
    meanwhile, and threads importing one package at once can see it half
    initialised ("cannot import name ... from partially initialized module").
    Once per process; returns the engine_name steps run with (None: papermill's
    default, when :data:`ENGINE` could not be registered)."""
    with _loading:
        if not _loaded:
            _loaded.append(_load())
        return _loaded[0]


def _load() -> str | None:
    with contextlib.suppress(Exception):  # the step that needs it will report why
        with _hidden(UNUSED_BY_NBFLOW), _no_plugins():
            papermill_files.use()  # imports papermill
        from nbflow.engine.kernel import prepare_classes

        prepare_classes()
        _register_engine()
        return ENGINE
    return None


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


@contextlib.contextmanager
def _no_plugins() -> Any:
    """While inside, papermill finds no engine or I/O handler of other packages
    (``entrypoints.get_group_all``, which papermill calls when imported)."""
    try:
        import entrypoints  # type: ignore[import-untyped]  # papermill's, not nbflow's
    except ImportError:  # a papermill that finds its plugins otherwise
        yield
        return
    scan = entrypoints.get_group_all
    entrypoints.get_group_all = lambda group, path=None: []
    try:
        yield
    finally:
        entrypoints.get_group_all = scan


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


def _register_engine() -> None:
    """Register :data:`ENGINE` with papermill: its nbclient engine, with a notebook
    manager that writes the output notebook once, when the notebook completes."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class SavedAtEnd(NotebookExecutionManager):  # type: ignore[misc]
        completing = False

        def save(self, **kwargs: Any) -> Any:
            if self.completing:  # notebook_complete's save, in papermill's finally
                return super().save(**kwargs)
            return None

        def notebook_complete(self, **kwargs: Any) -> Any:
            self.completing = True
            return super().notebook_complete(**kwargs)

    class SavingAtEnd(NBClientEngine):  # type: ignore[misc]
        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, **kwargs: Any) -> Any:
            """papermill's Engine.execute_notebook, with SavedAtEnd as the manager."""
            log_output = kwargs.pop("log_output", False)
            nb_man = SavedAtEnd(
                nb,
                output_path=kwargs.pop("output_path", None),
                progress_bar=kwargs.pop("progress_bar", True),
                log_output=log_output,
                autosave_cell_every=kwargs.pop("autosave_cell_every", 30),
            )
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(ENGINE, SavingAtEnd)
