"""Trigger rules as a table: each rule against each outcome of the steps it needs."""

from __future__ import annotations

import pytest

from nbflow.engine.trigger_rules import Decision, Outcome, decide, skipped_outcome
from nbflow.manifest.model import RunIf

S, F, K, P, C = (
    Outcome.SUCCEEDED,
    Outcome.FAILED,
    Outcome.SKIPPED,
    Outcome.PENDING,
    Outcome.CANCELLED,
)
RUN, SKIP, WAIT = "run", "skip", "wait"

# needs' outcomes → what each rule decides (the table in docs/running.md)
TABLE = [
    ((S, S), {"all_succeeded": RUN, "none_failed": RUN, "all_done": RUN, "any_failed": SKIP}),
    ((S, K), {"all_succeeded": SKIP, "none_failed": RUN, "all_done": RUN, "any_failed": SKIP}),
    ((S, F), {"all_succeeded": SKIP, "none_failed": SKIP, "all_done": RUN, "any_failed": RUN}),
    ((K, K), {"all_succeeded": SKIP, "none_failed": RUN, "all_done": RUN, "any_failed": SKIP}),
    ((F, P), {"all_succeeded": SKIP, "none_failed": SKIP, "all_done": WAIT, "any_failed": WAIT}),
    ((S, P), {"all_succeeded": WAIT, "none_failed": WAIT, "all_done": WAIT, "any_failed": WAIT}),
    ((F, C), {"all_succeeded": SKIP, "none_failed": SKIP, "all_done": SKIP, "any_failed": SKIP}),
]


@pytest.mark.parametrize(("outcomes", "expected"), TABLE)
@pytest.mark.parametrize("rule", list(RunIf))
def test_each_rule_against_each_outcome(
    rule: RunIf, outcomes: tuple[Outcome, ...], expected: dict[str, str]
) -> None:
    decision = decide(rule, dict(zip(("a", "b"), outcomes, strict=True)))

    got = WAIT if decision is None else RUN if decision.run else SKIP
    assert got == expected[rule.value]


def test_reasons_say_why() -> None:
    failed = {"load": F, "view": K}
    statuses = {"load": "failed", "view": "skipped"}

    assert decide(RunIf.ALL_SUCCEEDED, failed, statuses) == Decision(
        False, "needs 'load', which failed"
    )
    assert decide(RunIf.ALL_SUCCEEDED, {"view": F}, {"view": "skipped"}) == Decision(
        False, "needs 'view', which skipped"
    )
    assert decide(RunIf.NONE_FAILED, failed, statuses) == Decision(
        False, "run_if none_failed: needs 'load', which failed"
    )
    assert decide(RunIf.NONE_FAILED, {"gen": K, "x": S}) == Decision(
        True, "run_if none_failed: none failed; 'gen' skipped"
    )
    assert decide(RunIf.ALL_DONE, failed, statuses) == Decision(
        True, "run_if all_done: every step it needs is done; 'load' failed, 'view' skipped"
    )
    assert decide(RunIf.ANY_FAILED, {"a": F, "b": S, "c": F}, {"c": "skipped"}) == Decision(
        True, "run_if any_failed: 'a' failed, 'c' skipped after a failure"
    )
    assert decide(RunIf.ALL_SUCCEEDED, {"a": S, "b": C}) == Decision(
        False, "needs 'b', which cancelled"
    )
    assert decide(RunIf.ANY_FAILED, {"a": S}) == Decision(
        False, "run_if any_failed: no step it needs failed"
    )
    assert decide(RunIf.ALL_SUCCEEDED, {"a": S}) == Decision(True, "")


def test_a_skip_after_a_failure_counts_as_a_failure_but_a_false_condition_does_not() -> None:
    assert skipped_outcome("needs 'a', which failed", {"a": F}) is F
    assert skipped_outcome("needs 'a', which skipped", {"a": K}) is K
    assert skipped_outcome("run_if any_failed: no step it needs failed", {"a": S}) is K
    assert skipped_outcome("condition false: ${{ params.x }} (params.x = False)", {"a": F}) is K
