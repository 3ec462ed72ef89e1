"""papermill's local file handler, less its process-wide change of folder.

papermill reads and writes local notebooks through one shared handler object.
``execute_notebook`` sets that handler's folder to the current one on entry and
restores the previous value on exit, and each read and write does
``os.chdir(folder)`` and back. The current folder belongs to the whole process, and
nbflow executes steps on threads of the process that called it (``main([...])`` in
tests, the Python API): while one step's notebook was being saved, every other
thread saw papermill's folder as the current one. Overlapping steps also leave the
shared value pointing at the folder of an earlier run, so in a later run (another
project, in the same process) two steps saving at once could leave the process in
that earlier project's folder for good.

nbflow hands papermill absolute paths and needs none of it: :func:`use` replaces the
handler with one that keeps no folder, so reading and writing never call
``os.chdir``.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def use() -> None:
    """Make papermill's local reads and writes leave the current folder alone (once
    per process; later calls do nothing)."""
    from papermill.iorw import LocalHandler, papermill_io

    class FixedFolderHandler(LocalHandler):  # type: ignore[misc]
        def cwd(self, new_path: Any) -> None:
            """Keep no folder (papermill's ``chdir(None)`` does nothing)."""
            return None

    handler = FixedFolderHandler()
    # papermill has no call to replace a handler: swap it where get_handler finds it
    papermill_io._handlers = [
        (scheme, handler if scheme == "local" else old) for scheme, old in papermill_io._handlers
    ]
