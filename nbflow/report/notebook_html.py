"""A step's executed notebook as HTML, for readers without Jupyter (``report: {html: true}``).

Design decisions:

- Made with nbconvert's ``HTMLExporter`` (the lab template, styles inlined: the file
  reads on its own, offline), from the executed notebook *as written to the run
  folder*: secrets are already masked there (engine/step.py), so the HTML can hold
  no secret the notebook does not. ``hide_code`` is nbconvert's ``exclude_input``
  (and its prompts): Markdown and outputs stay, as in papermill's report mode.
- The HTML is named after the notebook (``fit.ipynb`` → ``fit.html``, an item's
  ``fit.0.ipynb`` → ``fit.0.html``) and written atomically beside it.
- A notebook nbconvert cannot render does not fail the step: the run says so in its
  log and the record names no HTML.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from nbflow.manifest.model import ReportSettings
from nbflow.store.runs import write_atomic

__all__ = ["html_path", "write_notebook_html", "write_step_html"]

log = logging.getLogger(__name__)

# Items of a sweep finish on parallel threads: nbconvert is imported, and its exporter
# (traitlets, Jinja) used, by one at a time.
_LOCK = threading.Lock()


def html_path(notebook: Path) -> Path:
    """Where the HTML of ``notebook`` goes: beside it, ``.ipynb`` replaced by ``.html``."""
    return notebook.with_suffix(".html")


def write_step_html(settings: ReportSettings, notebook: Path) -> str:
    """The name of the HTML copy written beside ``notebook`` as a step's ``report:``
    settings ask; "" when they ask for none or none could be written. WriteError
    when the file cannot be written (a full disk)."""
    if not settings.html:
        return ""
    path = write_notebook_html(notebook, hide_code=settings.hide_code)
    return path.name if path else ""


def write_notebook_html(notebook: Path, *, hide_code: bool = False) -> Path | None:
    """Write the HTML of the executed ``notebook`` beside it; its path, or None when
    there is no notebook or nbconvert cannot render it (logged)."""
    if not notebook.is_file():
        return None
    try:
        html = render_html(notebook, hide_code=hide_code)
    except Exception as exc:  # nbconvert's errors have no common base: any is the notebook's
        log.warning("%s: no HTML written: nbconvert failed: %s", notebook.name, exc)
        return None
    target = html_path(notebook)
    write_atomic(target, html)
    return target


def render_html(notebook: Path, *, hide_code: bool = False) -> str:
    """The HTML nbconvert renders for ``notebook``, code cells' input left out with
    ``hide_code``."""
    with _LOCK:
        return _render(notebook, hide_code)


def _render(notebook: Path, hide_code: bool) -> str:
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        exclude_input=hide_code, exclude_input_prompt=hide_code
    )
    resources = {"metadata": {"name": notebook.stem}}
    body, _ = exporter.from_notebook_node(node, resources=resources)
    return str(body)
