"""Planning is pure: order, layers, cycles, selections, upstream and downstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbflow.errors import ManifestError, Source, UsageError
from nbflow.manifest.model import Step, Workflow
from nbflow.manifest.step_graph import find_cycle
from nbflow.plan import downstream, plan_run, topological_order, upstream

MANIFEST = Path("workflows/demo/workflow.yaml")


def _steps(*specs: tuple[str, tuple[str, ...]]) -> tuple[Step, ...]:
    return tuple(
        Step(
            id=step_id,
            notebook=f"{step_id}.ipynb",
            source=Source(MANIFEST, 3 + 2 * i, 5),
            needs=needs,
            needs_sources=tuple(Source(MANIFEST, 4 + 2 * i, 13 + 3 * j) for j in range(len(needs))),
        )
        for i, (step_id, needs) in enumerate(specs)
    )


def _workflow(*specs: tuple[str, tuple[str, ...]]) -> Workflow:
    return Workflow(
        name="demo", manifest=MANIFEST, source=Source(MANIFEST, 1, 1), steps=_steps(*specs)
    )


# extract → (clean, profile) → load; report is independent; notify needs report.
DIAMOND = _workflow(
    ("extract", ()),
    ("report", ()),
    ("clean", ("extract",)),
    ("profile", ("extract",)),
    ("load", ("profile", "clean")),
    ("notify", ("report",)),
)


def test_topological_order_keeps_manifest_order_among_independent_steps() -> None:
    assert topological_order(DIAMOND.steps) == (
        "extract",
        "report",
        "clean",
        "profile",
        "load",
        "notify",
    )
    late_first = _workflow(("b", ("a",)), ("a", ()), ("c", ()))
    assert topological_order(late_first.steps) == ("a", "b", "c")


def test_layers_group_steps_that_may_run_together() -> None:
    assert plan_run(DIAMOND).layers() == [
        ["extract", "report"],
        ["clean", "profile", "notify"],
        ["load"],
    ]


def test_selection_plans_only_the_selected_steps() -> None:
    plan = plan_run(DIAMOND, ["load", "clean"])

    assert plan.selected == frozenset({"load", "clean"})
    assert [s.id for s in plan.steps] == ["clean", "load"]
    assert plan.order == topological_order(DIAMOND.steps)
    assert plan.layers() == [["clean"], ["load"]]
    assert plan_run(DIAMOND, None, done={"extract": {}}).selected == frozenset(
        {"report", "clean", "profile", "load", "notify"}
    )


def test_unknown_selected_step_suggests_a_name() -> None:
    with pytest.raises(UsageError) as exc:
        plan_run(DIAMOND, ["lod"])
    assert str(exc.value) == "demo: unknown step 'lod'; did you mean 'load'?"
    with pytest.raises(UsageError) as exc:
        plan_run(DIAMOND, ["zzz"])
    assert str(exc.value) == (
        "demo: unknown step 'zzz'; steps are: extract, report, clean, profile, load, notify"
    )


def test_find_cycle_returns_the_cycle() -> None:
    steps = _steps(("a", ()), ("b", ("a", "d")), ("c", ("b",)), ("d", ("c",)))

    assert find_cycle(steps) == ["b", "d", "c", "b"]
    assert find_cycle(_steps(("a", ("a",)))) == ["a", "a"]
    assert find_cycle(DIAMOND.steps) is None
    assert find_cycle(_steps(("a", ("missing",)))) is None


def test_planning_a_cycle_points_at_the_need() -> None:
    cyclic = _workflow(("a", ("c",)), ("b", ("a",)), ("c", ("b",)))

    with pytest.raises(ManifestError) as exc:
        plan_run(cyclic)

    assert str(exc.value) == (
        f"{MANIFEST}:4:13: steps[0] (a).needs: cycle: a -> c -> b -> a; "
        "remove one of these needs so the steps form a graph without loops"
    )


def test_downstream_and_upstream_follow_needs_transitively() -> None:
    assert downstream(DIAMOND, ["extract"]) == {"extract", "clean", "profile", "load"}
    assert downstream(DIAMOND, ["profile", "report"]) == {"profile", "load", "report", "notify"}
    assert upstream(DIAMOND, ["load"]) == {"load", "profile", "clean", "extract"}
    assert upstream(DIAMOND, ["notify", "clean"]) == {"notify", "report", "clean", "extract"}
    assert upstream(DIAMOND, []) == set()
