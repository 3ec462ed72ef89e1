"""nbflow: notebook-and-Git-native data workflows.

Inside a notebook: ``nbflow.record(name, value)`` and ``nbflow.secret(name)``.
From Python: ``load_manifest``, ``plan_run``, ``run_workflow``, and
``generate_ci``/``write_ci``/``check_ci`` for the GitHub Actions files. Importing
``nbflow`` stays cheap because kernels import it: the API is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbflow.engine.outputs import record
from nbflow.secrets import secret
from nbflow.version import __version__ as __version__

__all__ = [
    "check_ci",
    "generate_ci",
    "load_manifest",
    "plan_run",
    "record",
    "run_workflow",
    "secret",
    "write_ci",
]

if TYPE_CHECKING:
    from nbflow.engine.runner import run_workflow
    from nbflow.github.workflows import check_ci, generate_ci, write_ci
    from nbflow.manifest.load import load_manifest
    from nbflow.plan import plan_run

_LAZY = {
    "check_ci": "nbflow.github.workflows",
    "generate_ci": "nbflow.github.workflows",
    "write_ci": "nbflow.github.workflows",
    "load_manifest": "nbflow.manifest.load",
    "plan_run": "nbflow.plan",
    "run_workflow": "nbflow.engine.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nbflow' has no attribute {name!r}")
