"""Step outputs: values a notebook records for later steps.

``nbflow.record(name, value)`` displays the value under a dedicated MIME type, so
it is stored in the executed notebook itself, the same way whether nbflow ran the
notebook or a person ran it in Jupyter; nbflow reads it back from the saved
notebook. The notebook stays the single source of truth and nothing extra needs
to be running next to the kernel. This module is imported inside kernels: keep it
free of heavy imports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

OUTPUT_MIME = "application/vnd.nbflow.output+json"

_recorded: dict[str, Any] = {}  # what was recorded in this process, for plain Python use


def record(name: str, value: Any) -> None:
    """Record ``value`` (JSON-serialisable) as output ``name`` of the current step.

    Returns nothing, so a notebook whose last line records a value shows no extra
    ``Out[]``. Outside IPython (a plain script), the value is kept in this process only.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"output name must be an identifier, got {name!r}")
    try:
        encoded = json.loads(json.dumps(value, allow_nan=False))
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise ValueError(f"nbflow.record({name!r}, ...): {exc}") from exc
        raise ValueError(
            f"nbflow.record({name!r}, ...): the value holds NaN or infinity, which JSON "
            "cannot hold; record None for a missing number (`None if math.isnan(x) else "
            "x`; pandas: `df.replace({np.nan: None})`) or text such as str(x)"
        ) from exc
    except TypeError as exc:
        raise TypeError(
            f"nbflow.record({name!r}, ...): value is not JSON-serialisable ({exc}); "
            "convert it first, e.g. with int(), float(), str() or .tolist()"
        ) from exc
    _recorded[name] = encoded
    _display(name, encoded)


def _display(name: str, value: Any) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    text = json.dumps(value)
    if len(text) > 200:
        text = text[:200] + "…"
    bundle = {OUTPUT_MIME: {"name": name, "value": value}, "text/plain": f"{name} = {text}"}
    display(bundle, raw=True)  # type: ignore[no-untyped-call]


def _output_bundles(notebook: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for cell in notebook.get("cells", ()):
        for output in cell.get("outputs", ()) if cell.get("cell_type") == "code" else ():
            data = output.get("data") or {}
            if OUTPUT_MIME in data:
                yield data[OUTPUT_MIME]


def read_outputs(notebook: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs recorded in an executed notebook; a later record of a name wins."""
    return {bundle["name"]: bundle["value"] for bundle in _output_bundles(notebook)}
