"""A step's fingerprint: what its result depends on, as one sha256.

Design decisions (docs/running.md, "Incremental runs"):

- The notebook counts by its *source*: every cell's type, source and tags (tags
  change what papermill does: ``parameters``, ``raises-exception``). Outputs,
  execution counts and other metadata do not count, so re-saving a notebook after
  running it by hand does not invalidate anything. Markdown counts: it is part of
  the executed notebook a run keeps, and a cached run must not show stale text.
  A text notebook (jupytext ``.py``, ``.md``) holds no outputs: it counts by its
  bytes, the file Git keeps.
- Parameters count as *resolved*: the values the notebook receives, including
  upstream outputs passed through ``${{ steps.X.outputs.Y }}``.
- The steps a step needs count by their *outputs*, not by their own fingerprints:
  an upstream step that re-ran but recorded the same outputs leaves its dependants
  cached, so changing something reruns exactly what it affects. Files that steps
  pass along must be declared as ``inputs:`` of the step that reads them — their
  content counts. What a step reads without declaring it (a database, a web API)
  is invisible here: do not cache such a step (``cache: false``).
- Inputs are globs relative to the workflow folder, with ``${{ params.X }}``
  resolved; each matched file counts by its relative path and content, and a glob
  matching nothing counts too (creating a file later changes the fingerprint).
- The kernel name counts. nbflow's own version does not.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nbflow.manifest.notebook_file import canonical_digest, source_digest
from nbflow.manifest.notebooks import NotebookError, inspect_notebook
from nbflow.manifest.text_notebook import is_text_notebook

VERSION = 1  # bump when the recipe changes: old fingerprints then never match

_source_cache: dict[Path, tuple[tuple[int, int], str]] = {}


def notebook_digest(path: Path) -> str:
    """sha256 of a notebook's cell types, sources and tags (cached per file version:
    the manifest check's reading of it, else read here); of its bytes for a text
    notebook."""
    if is_text_notebook(path):
        return file_digest(path)
    with contextlib.suppress(NotebookError):
        if digest := inspect_notebook(path).source_digest:
            return digest
    stat = path.stat()
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _source_cache.get(path)
    if cached and cached[0] == key:
        return cached[1]
    with path.open(encoding="utf-8") as handle:
        digest = source_digest(json.load(handle))
    _source_cache[path] = (key, digest)
    return digest


def input_digests(directory: Path, patterns: Iterable[str]) -> dict[str, dict[str, str]]:
    """For each glob (already resolved), the sha256 of every file it matches, by path
    relative to ``directory``."""
    return {
        pattern: {m: file_digest(directory / m) for m in matching_files(directory, pattern)}
        for pattern in patterns
    }


def matching_files(directory: Path, pattern: str) -> list[str]:
    """The files a glob (already resolved, relative to ``directory``; ``**`` spans
    folders) matches, as sorted paths relative to ``directory``."""
    matches = sorted(glob.glob(pattern, root_dir=directory, recursive=True))
    return [Path(m).as_posix() for m in matches if (directory / m).is_file()]


def missing_files(directory: Path, patterns: Iterable[str]) -> list[str]:
    """Those of ``patterns`` (resolved globs) that match no file under ``directory``."""
    return [pattern for pattern in patterns if not matching_files(directory, pattern)]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def outputs_digest(outputs: Mapping[str, Any] | None) -> str:
    """sha256 of a step's recorded outputs (None: not known)."""
    return canonical_digest(None if outputs is None else dict(outputs))


def step_fingerprint(
    *,
    notebook: str,
    kernel: str,
    parameters: Mapping[str, Any],
    needs: Mapping[str, str],
    inputs: Mapping[str, Mapping[str, str]],
) -> str:
    """The fingerprint from its parts (digests as the functions above return them)."""
    return canonical_digest(
        {
            "version": VERSION,
            "notebook": notebook,
            "kernel": kernel,
            "parameters": dict(parameters),
            "needs": dict(needs),
            "inputs": {k: dict(v) for k, v in inputs.items()},
        }
    )
