"""Step graphs in Mermaid, DOT and text, from a workflow and from a run record.

Golden files live in tests/golden/; run with UPDATE_GOLDEN=1 to rewrite them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import assert_golden

from nbflow.errors import ManifestError, Source
from nbflow.manifest.model import Step, Workflow
from nbflow.report.graph import (
    FORMATS,
    STATUS_STYLES,
    graph_nodes,
    render_graph,
    render_record_graph,
)
from nbflow.run_record import RunRecord, RunStatus, StepRecord, StepStatus

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = Path("workflows/finance-daily/workflow.yaml")

# A diamond with a second root and a step id Mermaid would misread (`-`, `end`).
NEEDS: dict[str, tuple[str, ...]] = {
    "check_sources": (),
    "transform": ("check_sources",),
    "profile-sources": ("check_sources",),
    "fetch_rates": (),
    "build_view": ("transform", "fetch_rates"),
    "end": ("build_view", "profile-sources"),
}
STATUSES = {
    "check_sources": "succeeded",
    "transform": "failed",
    "profile-sources": "succeeded",
    "fetch_rates": "cached",
    "build_view": "skipped",
    "end": "cancelled",
}
EDGES = [(need, step) for step, needs in NEEDS.items() for need in needs]


def make_workflow(needs: dict[str, tuple[str, ...]] = NEEDS) -> Workflow:
    steps = tuple(
        Step(step_id, f"{step_id}.ipynb", Source(MANIFEST, 3 + 2 * i, 5), needs=step_needs)
        for i, (step_id, step_needs) in enumerate(needs.items())
    )
    return Workflow("finance-daily", MANIFEST, Source(MANIFEST, 1, 1), steps)


RECORD_STATUSES = {**STATUSES, "fetch_rates": "succeeded"}  # records know no "cached"


def make_record(statuses: dict[str, str] = RECORD_STATUSES) -> RunRecord:
    steps = tuple(
        StepRecord(step_id, status=StepStatus(statuses[step_id]), needs=needs)
        for step_id, needs in NEEDS.items()
    )
    return RunRecord(
        "finance-daily", "run-1", RunStatus.FAILED, "push", "2024-05-01T00:00:00Z", steps=steps
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_plain_graph_matches_golden(fmt: str) -> None:
    assert_golden(f"graph_plain.{fmt}", render_graph(make_workflow(), fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_status_graph_matches_golden(fmt: str) -> None:
    assert_golden(f"graph_status.{fmt}", render_graph(make_workflow(), fmt, STATUSES))


def test_default_format_is_text() -> None:
    assert render_graph(make_workflow()) == render_graph(make_workflow(), "text")


@pytest.mark.parametrize("fmt", ["svg", "Mermaid", ""])
def test_unknown_format_raises(fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown graph format"):
        render_graph(make_workflow(), fmt)
    with pytest.raises(ValueError, match="unknown graph format"):
        render_record_graph(make_record(), fmt)


def test_unknown_direction_raises() -> None:
    with pytest.raises(ValueError, match="unknown direction 'UP'"):
        render_graph(make_workflow(), "mermaid", direction="UP")


def test_nodes_are_in_layers_and_topological_order() -> None:
    nodes = graph_nodes(make_workflow())
    assert [(n.id, n.layer) for n in nodes] == [
        ("check_sources", 0),
        ("fetch_rates", 0),
        ("transform", 1),
        ("profile-sources", 1),
        ("build_view", 2),
        ("end", 3),
    ]


def test_cycle_in_workflow_is_a_manifest_error() -> None:
    with pytest.raises(ManifestError, match="cycle: a -> b -> a"):
        render_graph(make_workflow({"a": ("b",), "b": ("a",)}), "text")


def mermaid_ids(text: str) -> dict[str, str]:
    """Step id → Mermaid node id, from the node definition lines."""
    return {label: node for node, label in re.findall(r'^    (\S+)\["(.*)"\]$', text, re.M)}


def test_mermaid_has_every_node_and_edge_with_safe_ids() -> None:
    text = render_graph(make_workflow(), "mermaid")
    assert text.startswith("flowchart LR\n")
    ids = mermaid_ids(text)
    assert set(ids) == set(NEEDS)
    assert all(re.fullmatch(r"s_\w+", node) for node in ids.values())
    edges = re.findall(r"^    (\S+) --> (\S+)$", text, re.M)
    assert sorted(edges) == sorted((ids[a], ids[b]) for a, b in EDGES)


def test_mermaid_ids_stay_unique_when_sanitised_ids_clash() -> None:
    text = render_graph(make_workflow({"a-b": (), "a_b": ("a-b",), "a.b": ("a_b",)}), "mermaid")
    assert mermaid_ids(text) == {"a-b": "s_a_b", "a_b": "s_a_b_2", "a.b": "s_a_b_3"}
    assert "s_a_b --> s_a_b_2" in text and "s_a_b_2 --> s_a_b_3" in text


def test_mermaid_top_down() -> None:
    assert render_graph(make_workflow(), "mermaid", direction="TD").startswith("flowchart TD\n")


def test_mermaid_colours_nodes_by_status() -> None:
    text = render_graph(make_workflow(), "mermaid", STATUSES)
    ids = mermaid_ids(text)
    for status in set(STATUSES.values()):
        style = STATUS_STYLES[status]
        assert f"    classDef {status} fill:{style.fill},stroke:{style.stroke}," in text
        members = {ids[s] for s, st in STATUSES.items() if st == status}
        (line,) = re.findall(rf"^    class (\S+) {status}$", text, re.M)
        assert set(line.split(",")) == members
    assert "classDef running" not in text  # only statuses that occur


def test_mermaid_without_statuses_has_no_classes() -> None:
    assert "class" not in render_graph(make_workflow(), "mermaid")


def test_dot_has_every_edge_quoted_and_fill_colours() -> None:
    text = render_graph(make_workflow(), "dot", STATUSES)
    assert text.startswith('digraph "finance-daily" {\n') and text.endswith("}\n")
    edges = re.findall(r'^    "([^"]+)" -> "([^"]+)";$', text, re.M)
    assert sorted(edges) == sorted(EDGES)
    for step_id, status in STATUSES.items():
        fill = STATUS_STYLES[status].fill
        assert re.search(rf'^    "{re.escape(step_id)}" \[fillcolor="{fill}"', text, re.M)


def test_dot_quotes_awkward_ids() -> None:
    text = render_graph(make_workflow({'say "hi"': (), "back\\slash": ('say "hi"',)}), "dot")
    assert '    "say \\"hi\\"" -> "back\\\\slash";' in text


@pytest.mark.parametrize("statuses", [None, STATUSES])
def test_dot_parses_as_graphviz_with_every_step_and_need(statuses: dict[str, str] | None) -> None:
    """pydot's parser follows Graphviz's DOT grammar, so this runs everywhere; where
    Graphviz itself is installed, ``dot`` must render the text too."""
    import pydot

    text = render_graph(make_workflow(), "dot", statuses)
    parsed = pydot.graph_from_dot_data(text)
    assert parsed is not None, text
    (graph,) = parsed
    unquote = lambda name: name.strip('"')  # noqa: E731
    nodes = {unquote(node.get_name()) for node in graph.get_nodes()} - {"node", "edge", "graph"}
    edges = {(unquote(e.get_source()), unquote(e.get_destination())) for e in graph.get_edges()}
    assert nodes == set(NEEDS)
    assert edges == {(need, step) for step, needs in NEEDS.items() for need in needs}
    if shutil.which("dot"):
        result = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "<svg" in result.stdout


def test_text_lists_layers_and_needs() -> None:
    lines = render_graph(make_workflow(), "text", STATUSES).splitlines()
    assert lines[0] == "finance-daily: 6 steps in 4 layers"
    assert lines[3] == "[2]  transform        failed     ← needs check_sources"
    assert lines[6] == "[4]  end              cancelled  ← needs build_view, profile-sources"
    assert all(line == line.rstrip() for line in lines)


def test_record_graph_equals_workflow_graph_with_its_statuses() -> None:
    record = make_record()
    statuses = {s.id: s.status.value for s in record.steps}
    for fmt in FORMATS:
        assert render_record_graph(record, fmt) == render_graph(make_workflow(), fmt, statuses)


def test_record_graph_defaults_to_mermaid_and_matches_golden() -> None:
    text = render_record_graph(make_record())
    assert_golden("graph_record.mermaid", text)


def test_record_graph_draws_needs_missing_from_the_record() -> None:
    record = RunRecord(
        "wf",
        "r",
        RunStatus.SUCCEEDED,
        "push",
        "2024-05-01T00:00:00Z",
        steps=(StepRecord("load", status=StepStatus.SUCCEEDED, needs=("extract",)),),
    )
    assert render_record_graph(record, "text") == (
        "wf: 2 steps in 2 layers\n[1]  extract\n[2]  load     succeeded  ← needs extract\n"
    )


def test_record_graph_with_a_cycle_raises() -> None:
    record = RunRecord(
        "wf",
        "r",
        RunStatus.FAILED,
        "push",
        "2024-05-01T00:00:00Z",
        steps=(StepRecord("a", needs=("b",)), StepRecord("b", needs=("a",))),
    )
    with pytest.raises(ValueError, match="cycle among needs: a -> b -> a"):
        render_record_graph(record)


def test_output_is_deterministic() -> None:
    for fmt in FORMATS:
        renders = {
            render_graph(make_workflow(), fmt, dict(reversed(STATUSES.items()))) for _ in range(3)
        }
        assert len(renders) == 1


def test_mermaid_labels_escape_quotes_and_angle_brackets() -> None:
    text = render_graph(make_workflow({'say "hi"': (), "a<b>": ('say "hi"',)}), "mermaid")
    assert '    s_say__hi_["say #quot;hi#quot;"]\n    s_a_b_["a#lt;b#gt;"]\n' in text
