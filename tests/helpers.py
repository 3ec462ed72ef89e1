"""Builders for tests: tiny notebooks and workflow folders written to real files."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def code_cell(source: str, tags: Iterable[str] = ()) -> dict[str, Any]:
    """A code cell dict (nbformat 4) with optional tags."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"c{abs(hash((source, tuple(tags)))) % 10**8:08d}",
        "metadata": {"tags": list(tags)},
        "outputs": [],
        "source": source,
    }


def markdown_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": "md", "metadata": {}, "source": source}


def write_notebook(
    path: Path,
    parameters_source: str | None = None,
    cells: Iterable[str | dict[str, Any]] = (),
    *,
    kernel: str = "python3",
) -> Path:
    """Write a valid nbformat-4 notebook: a cell tagged "parameters" (unless None),
    then ``cells`` (source strings become code cells)."""
    all_cells: list[dict[str, Any]] = []
    if parameters_source is not None:
        all_cells.append(code_cell(parameters_source, tags=["parameters"]))
    for cell in cells:
        all_cells.append(code_cell(cell) if isinstance(cell, str) else cell)
    notebook = {
        "cells": all_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": kernel},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
    return path


def write_manifest(folder: Path, text: str) -> Path:
    """Write ``folder/workflow.yaml`` from dedented ``text``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workflow.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path
