"""Step graphs: a workflow or a run record → Mermaid, Graphviz DOT or plain text.

One renderer serves both sources. A workflow (from its manifest) and a run record
(from ``run.json`` alone, so a report needs no manifest) are first reduced to a
tuple of :class:`GraphNode` — id, needs, status — sorted into layers; each format
then renders that tuple. Output is deterministic: nodes keep the topological order
of the source, edges follow the order of ``needs``, styles the order of
:data:`STATUS_STYLES`.

Mermaid node ids are generated (``s_`` + the step id with every character outside
``[A-Za-z0-9_]`` replaced), because step ids may contain ``-`` and may be Mermaid
keywords such as ``end``; the step id itself is the quoted label.

A ``foreach:`` step names its items in its label (their count when there are more
than :data:`MAX_ITEM_NAMES`, the expression when only a run knows them). With
``files``, the data files steps read (``inputs:``) and write (``produces:``) are
nodes too, as written in the manifest: one node per path or glob, so a file one step
writes and another reads links the two; their edges are dashed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from nbflow.manifest.model import Grid, Step, Workflow
from nbflow.plan import topological_order
from nbflow.run_record import RunRecord, item_name

__all__ = [
    "DIRECTIONS",
    "FORMATS",
    "STATUS_STYLES",
    "GraphNode",
    "StatusStyle",
    "graph_nodes",
    "record_graph_nodes",
    "render_graph",
    "render_nodes",
    "render_record_graph",
]


@dataclass(frozen=True)
class StatusStyle:
    """How a node with a given status is coloured."""

    fill: str
    stroke: str
    text: str


STATUS_STYLES: Mapping[str, StatusStyle] = {
    "succeeded": StatusStyle("#2da44e", "#1a7f37", "#ffffff"),  # green
    "failed": StatusStyle("#cf222e", "#a40e26", "#ffffff"),  # red
    "skipped": StatusStyle("#d0d7de", "#8c959f", "#24292f"),  # grey
    "cancelled": StatusStyle("#fb8500", "#bc4c00", "#24292f"),  # orange
    "running": StatusStyle("#0969da", "#0550ae", "#ffffff"),  # blue
    "pending": StatusStyle("#ffffff", "#8c959f", "#24292f"),  # white
    "cached": StatusStyle("#1b998b", "#127068", "#ffffff"),  # teal
}

FORMATS = ("mermaid", "dot", "text")
MAX_ITEM_NAMES = 5  # a sweep with more items shows their count
DIRECTIONS = ("LR", "TD", "TB", "RL", "BT")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")  # what a Mermaid node id cannot hold


@dataclass(frozen=True)
class GraphNode:
    """One step as a graph shows it. ``layer`` is 0 for steps that need nothing."""

    id: str
    needs: tuple[str, ...] = ()
    status: str | None = None
    layer: int = 0
    items: int | None = None  # a foreach step's item count, once known
    item_names: tuple[str, ...] = ()  # its items' names, when the manifest lists them
    items_from: str = ""  # the expression naming its items, when only a run knows them
    reads: tuple[str, ...] = ()  # its inputs: (with files=True)
    writes: tuple[str, ...] = ()  # its produces: (with files=True)


def graph_nodes(
    workflow: Workflow, statuses: Mapping[str, str] | None = None, *, files: bool = False
) -> tuple[GraphNode, ...]:
    """The steps of ``workflow`` as layered nodes, in topological order, with their
    sweep items and (with ``files``) the files they read and write."""
    statuses = statuses or {}
    order = topological_order(workflow.steps)  # raises ManifestError on a cycle
    steps = [workflow.step(step_id) for step_id in order]
    nodes = _layered((s.id, s.needs, statuses.get(s.id)) for s in steps)
    return tuple(_with_step_details(n, workflow.step(n.id), files) for n in nodes)


def _with_step_details(node: GraphNode, step: Step, files: bool) -> GraphNode:
    if files:
        node = replace(node, reads=step.inputs, writes=step.produces)
    foreach = step.foreach
    if isinstance(foreach, Grid):
        items = foreach.literal_items()
        foreach = tuple(items) if items is not None else _grid_text(foreach)
    if isinstance(foreach, str):
        return replace(node, items_from=foreach)
    if foreach is not None:
        names = tuple(item_name(i, value) for i, value in enumerate(foreach))
        return replace(node, items=len(names), item_names=names)
    return node


def _grid_text(grid: Grid) -> str:
    """``grid model (2) × depth (${{ params.depths }})``: a grid only a run expands."""
    axes = (f"{k} ({len(v) if isinstance(v, tuple) else v})" for k, v in grid.axes)
    return "grid " + " × ".join(axes)


def record_graph_nodes(record: RunRecord) -> tuple[GraphNode, ...]:
    """The steps of a run record as layered nodes, coloured by their status."""
    nodes = _layered((s.id, s.needs, s.status.value) for s in record.steps)
    items = {s.id: len(s.items) for s in record.steps if s.items}
    return tuple(replace(n, items=items[n.id]) if n.id in items else n for n in nodes)


def render_graph(
    workflow: Workflow,
    fmt: str = "text",
    statuses: Mapping[str, str] | None = None,
    *,
    direction: str = "LR",
    files: bool = False,
) -> str:
    """Render the step graph of ``workflow`` as ``mermaid``, ``dot`` or ``text``; with
    ``files``, the files its steps read and write too."""
    _check_options(fmt, direction)
    nodes = graph_nodes(workflow, statuses, files=files)
    return render_nodes(workflow.name, nodes, fmt, direction=direction)


def render_record_graph(record: RunRecord, fmt: str = "mermaid", *, direction: str = "LR") -> str:
    """Render the step graph of a run from its record alone, coloured by status."""
    _check_options(fmt, direction)
    return render_nodes(record.workflow, record_graph_nodes(record), fmt, direction=direction)


def render_nodes(name: str, nodes: Sequence[GraphNode], fmt: str, *, direction: str = "LR") -> str:
    """Render layered nodes (from :func:`graph_nodes`) in one format."""
    _check_options(fmt, direction)
    return _RENDERERS[fmt](name, nodes, direction)


def _check_options(fmt: str, direction: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown graph format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; use one of: {', '.join(DIRECTIONS)}")


# Layering ---------------------------------------------------------------------------


def _layered(items: Iterable[tuple[str, Sequence[str], str | None]]) -> tuple[GraphNode, ...]:
    """Nodes with their layer, stable-sorted by layer (a topological order).

    A need naming no node (a record edited by hand) becomes a node of its own, so
    every edge has both ends.
    """
    nodes = [GraphNode(i, tuple(needs), status) for i, needs, status in items]
    known = {n.id for n in nodes}
    missing = dict.fromkeys(need for n in nodes for need in n.needs if need not in known)
    nodes = [GraphNode(m) for m in missing] + nodes
    depths = _depths(nodes)
    layered = [GraphNode(n.id, n.needs, n.status, depths[n.id]) for n in nodes]
    return tuple(sorted(layered, key=lambda n: n.layer))


def _depths(nodes: Sequence[GraphNode]) -> dict[str, int]:
    """Each node's longest distance from a node that needs nothing."""
    needs = {n.id: n.needs for n in nodes}
    depth: dict[str, int] = {}

    def visit(node_id: str, path: tuple[str, ...]) -> int:
        if node_id in path:
            raise ValueError("cycle among needs: " + " -> ".join((*path, node_id)))
        if node_id not in depth:
            below = (visit(n, (*path, node_id)) for n in needs[node_id])
            depth[node_id] = 1 + max(below, default=-1)
        return depth[node_id]

    for node_id in needs:
        visit(node_id, ())
    return depth


def _edges(nodes: Sequence[GraphNode]) -> list[tuple[str, str]]:
    return [(need, node.id) for node in nodes for need in node.needs]


def _files(nodes: Sequence[GraphNode]) -> list[str]:
    """The files steps read or write, each once, in the order they first appear."""
    return list(dict.fromkeys(f for n in nodes for f in (*n.reads, *n.writes)))


def _file_edges(nodes: Sequence[GraphNode]) -> list[tuple[str, str, bool]]:
    """(file, step, True) for a file a step reads; (step, file, False) for one it writes."""
    reads = [(f, n.id, True) for n in nodes for f in n.reads]
    return reads + [(n.id, f, False) for n in nodes for f in n.writes]


def _used_styles(nodes: Sequence[GraphNode]) -> list[str]:
    """The styled statuses present among ``nodes``, in STATUS_STYLES order."""
    present = {n.status for n in nodes}
    return [status for status in STATUS_STYLES if status in present]


# Mermaid ----------------------------------------------------------------------------


def _render_mermaid(name: str, nodes: Sequence[GraphNode], direction: str) -> str:
    ids = _mermaid_ids(nodes)
    lines = [f"flowchart {direction}"]
    lines += [f'    {ids[n.id]}["{_mermaid_label(_label(n))}"]' for n in nodes]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in _edges(nodes)]
    files = {path: f"f_{i}" for i, path in enumerate(_files(nodes), 1)}
    lines += [f'    {files[p]}[("{_mermaid_label(p)}")]' for p in files]
    for a, b, is_read in _file_edges(nodes):
        lines.append(
            f"    {files[a]} -.-> {ids[b]}" if is_read else f"    {ids[a]} -.-> {files[b]}"
        )
    for status in _used_styles(nodes):
        style = STATUS_STYLES[status]
        members = ",".join(ids[n.id] for n in nodes if n.status == status)
        lines.append(
            f"    classDef {status} fill:{style.fill},stroke:{style.stroke},color:{style.text}"
        )
        lines.append(f"    class {members} {status}")
    return "\n".join(lines) + "\n"


def _mermaid_ids(nodes: Sequence[GraphNode]) -> dict[str, str]:
    """Unique Mermaid-safe node ids; a clash (``a-b`` and ``a_b``) gets a suffix."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for node in nodes:
        base = candidate = "s_" + _UNSAFE.sub("_", node.id)
        suffix = 1
        while candidate in taken:
            suffix += 1
            candidate = f"{base}_{suffix}"
        ids[node.id] = candidate
        taken.add(candidate)
    return ids


def _label(node: GraphNode) -> str:
    """The step id; a foreach step's also names its items, or says how many it has,
    or which expression names them."""
    if node.items_from:
        return f"{node.id} (items: {node.items_from})"
    if node.items is None:
        return node.id
    count = _plural(node.items, "item")
    if node.item_names and len(node.item_names) <= MAX_ITEM_NAMES:
        return f"{node.id} ({count}: {', '.join(node.item_names)})"
    return f"{node.id} ({count})"


def _mermaid_label(text: str) -> str:
    # Mermaid's entity codes: a raw quote would end the label, <> may be read as HTML.
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


# Graphviz DOT -----------------------------------------------------------------------


def _render_dot(name: str, nodes: Sequence[GraphNode], direction: str) -> str:
    rankdir = "TB" if direction == "TD" else direction
    lines = [
        f"digraph {_dot_quote(name)} {{",
        f"    rankdir={rankdir};",
        '    node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
    ]
    lines += [f"    {_dot_quote(n.id)}{_dot_attributes(n)};" for n in nodes]
    lines += [f"    {_dot_quote(a)} -> {_dot_quote(b)};" for a, b in _edges(nodes)]
    lines += [
        f'    {_dot_quote(_FILE + p)} [label={_dot_quote(p)}, shape=cylinder, style=""];'
        for p in _files(nodes)
    ]
    lines += [
        f"    {_dot_quote(_FILE + a if is_read else a)} -> "
        f"{_dot_quote(b if is_read else _FILE + b)} [style=dashed];"
        for a, b, is_read in _file_edges(nodes)
    ]
    lines.append("}")
    return "\n".join(lines) + "\n"


_FILE = "file:"  # a file node's DOT id: its path, apart from the step ids


def _dot_attributes(node: GraphNode) -> str:
    label = _label(node)
    attributes = [f"label={_dot_quote(label)}"] if label != node.id else []
    style = STATUS_STYLES.get(node.status or "")
    if style is not None:
        attributes += [
            f'fillcolor="{style.fill}"',
            f'color="{style.stroke}"',
            f'fontcolor="{style.text}"',
            f'tooltip="{node.status}"',
        ]
    return f" [{', '.join(attributes)}]" if attributes else ""


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Text -------------------------------------------------------------------------------


def _render_text(name: str, nodes: Sequence[GraphNode], direction: str) -> str:
    """One line per step: ``[layer] step_id  status  ← needs a, b`` (layers 1-based)."""
    layers = 1 + max((n.layer for n in nodes), default=-1)
    header = f"{name}: {_plural(len(nodes), 'step')} in {_plural(layers, 'layer')}"
    id_width = max((len(_label(n)) for n in nodes), default=0)
    status_width = max((len(n.status or "") for n in nodes), default=0)
    lines = [header]
    for node in nodes:
        lines.append(_text_line(node, id_width, status_width))
        indent = " " * (len(f"[{node.layer + 1}]") + 2)
        lines += [f"{indent}reads {path}" for path in node.reads]
        lines += [f"{indent}writes {path}" for path in node.writes]
    return "\n".join(lines) + "\n"


def _text_line(node: GraphNode, id_width: int, status_width: int) -> str:
    columns = [f"[{node.layer + 1}]", _label(node).ljust(id_width)]
    if status_width:
        columns.append((node.status or "").ljust(status_width))
    if node.needs:
        columns.append("← needs " + ", ".join(node.needs))
    return "  ".join(columns).rstrip()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


_RENDERERS: Mapping[str, Callable[[str, Sequence[GraphNode], str], str]] = {
    "mermaid": _render_mermaid,
    "dot": _render_dot,
    "text": _render_text,
}
