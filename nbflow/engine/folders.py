"""The folders a step writes its files into, made before it starts.

A step's ``produces:`` paths name where it writes (``out/${{ params.day }}/x.csv``);
a notebook should not have to create their folders first (issue 15, item 4). For a
glob, the folder is the part before its first wildcard (``out/**/*.csv`` → ``out``).
Paths are relative to the workflow folder; the manifest check keeps them inside it.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path, PurePosixPath


def output_folder(pattern: str) -> PurePosixPath:
    """The folder a ``produces:`` path or glob writes into, relative to the workflow
    folder (``.`` for a file at its top)."""
    parts = PurePosixPath(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return PurePosixPath(*fixed) if fixed else PurePosixPath(".")


def make_output_folders(directory: Path, patterns: Iterable[str]) -> None:
    """Create the folders ``patterns`` (resolved ``produces:`` globs) write into,
    under ``directory``; OSError when one cannot be made (a file in the way)."""
    for pattern in patterns:
        folder = output_folder(pattern)
        try:
            (directory / folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(
                f"produces: {pattern}: cannot create the folder '{folder}' in {directory} "
                f"({exc.strerror or exc}); move what is in the way"
            ) from exc
