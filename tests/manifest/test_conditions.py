"""The ``if:`` expression language: parsing, evaluation, errors with offsets."""

from __future__ import annotations

from typing import Any

import pytest

from nbflow.manifest.conditions import (
    ConditionError,
    evaluate,
    parse_condition,
    shown_values,
)
from nbflow.manifest.expressions import Context, ExpressionError

CONTEXT = Context(
    params={"full_refresh": True, "region": "eu", "day": "2026-11-20", "limit": 0},
    outputs={"check-data": {"rows": 12, "names": ["a", "b"], "empty": []}},
    run={"id": "r1", "date": "2026-11-20"},
    env={"STAGE": "prod"},
)


def holds(text: str, context: Context = CONTEXT) -> bool:
    return evaluate(parse_condition(text), context)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${{ params.full_refresh }}", True),
        ("${{ params.limit }}", False),  # 0 is false
        ("${{ steps.check-data.outputs.rows > 0 }}", True),
        ("${{ steps.check-data.outputs.rows <= 11 }}", False),
        ("${{ steps.check-data.outputs.empty }}", False),  # [] is false
        ("${{ params.region == 'eu' }}", True),
        ('${{ params.region != "eu" }}', False),
        ("${{ params.region in ['eu', 'us'] }}", True),
        ("${{ params.region not in ['eu', 'us'] }}", False),
        ("${{ 'a' in steps.check-data.outputs.names }}", True),
        ("${{ 'ro' in env.STAGE }}", True),
        ("${{ params.day >= '2026-11-01' and run.date == params.day }}", True),
        ("${{ not params.full_refresh or params.limit == 0 }}", True),
        ("${{ !params.full_refresh || params.limit != 0 }}", False),
        ("${{ params.full_refresh && (params.limit > 1 || params.region == 'eu') }}", True),
        ("${{ not (params.full_refresh and params.limit) }}", True),
        ("${{ -1.5 < params.limit }}", True),
        ("${{ true == 1 }}", False),  # a boolean is never a number
        ("${{ null == null and false != 0 }}", True),
        ("${{ [] }}", False),
    ],
)
def test_conditions_evaluate(text: str, expected: bool) -> None:
    assert holds(text) is expected


def test_and_or_short_circuit_never_read_the_other_side() -> None:
    # steps.gone has no outputs: reading it raises, so these pass only by short-circuit
    assert holds("${{ params.limit and steps.gone.outputs.x }}") is False
    assert holds("${{ params.full_refresh or steps.gone.outputs.x }}") is True


def test_not_binds_looser_than_comparison() -> None:
    assert holds("${{ not params.limit == 1 }}") is True  # not (limit == 1)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("${{ }}", "empty condition", 4),
        (
            "${{ region == 'eu' }}",
            "unknown name 'region'; a name starts with one of "
            "params, steps, run, env (text is quoted: 'eu')",
            4,
        ),
        (
            "${{ params.x == }}",
            "expected a value, a name or '(', found the end of the condition",
            16,
        ),
        ("${{ 1 < params.x < 3 }}", "comparisons cannot be chained; write 'a < b and b < c'", 17),
        ("${{ (params.x }}", "expected ')', found the end of the condition", 14),
        (
            "${{ params.x params.y }}",
            "expected 'and', 'or' or the end of the condition, found 'params.y'",
            13,
        ),
        ("${{ params.x + 1 }}", "unexpected character '+'", 13),
        (
            "${{ secrets.TOKEN }}",
            "'secrets.TOKEN': a condition cannot read secrets (its values are shown in the record)",
            4,
        ),
        (
            "${{ item.index > 0 }}",
            "'item.index': a condition is decided once for the whole step, before its items",
            4,
        ),
        (
            "${{ steps.a.outputs }}",
            "unknown name 'steps.a.outputs'; a name starts with one of "
            "params, steps, run, env (text is quoted: 'eu')",
            4,
        ),
        ("${{ [1, }}", "expected a value, a name or '(', found the end of the condition", 8),
    ],
)
def test_syntax_errors_name_the_offset(text: str, message: str, offset: int) -> None:
    with pytest.raises(ConditionError) as exc:
        parse_condition(text)

    assert (str(exc.value), exc.value.offset) == (message, offset)


@pytest.mark.parametrize("text", ["params.x", "${{ params.x }} and ${{ params.y }}", "x ${{ a }}"])
def test_a_condition_is_exactly_one_expression(text: str) -> None:
    with pytest.raises(ConditionError, match="is not one"):
        parse_condition(text)


def test_no_python_evaluation_reaches_builtins() -> None:
    for text in ("${{ __import__('os') }}", "${{ params.__class__ }}", "${{ open('x') }}"):
        with pytest.raises(ExpressionError):  # a parse error, or an unknown parameter
            evaluate(parse_condition(text), CONTEXT)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${{ params.region > 1 }}", "cannot compare 'eu' > 1: not two numbers or texts"),
        ("${{ 1 in params.limit }}", "'in' needs a list or a text on its right, got 0"),
        ("${{ 1 in params.region }}", "'in' a text needs a text on its left, got 1"),
        (
            "${{ steps.gone.outputs.x }}",
            "steps.gone.outputs.x: step 'gone' has no recorded outputs",
        ),
        (
            "${{ params.nope }}",
            "params.nope: unknown parameter 'nope' (known: day, full_refresh, limit, region)",
        ),
    ],
)
def test_evaluation_errors_are_errors_not_false(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as exc:
        holds(text)

    assert str(exc.value) == message


def test_shown_values_name_what_each_name_read() -> None:
    condition = parse_condition(
        "${{ steps.check-data.outputs.rows > 20 and params.region == 'eu' or params.gone }}"
    )

    assert shown_values(condition, CONTEXT) == (
        "steps.check-data.outputs.rows = 12, params.region = 'eu', params.gone = (not set)"
    )


def test_long_values_are_cut_in_shown_values() -> None:
    context: Any = Context(params={"long": "x" * 200})

    shown = shown_values(parse_condition("${{ params.long == '' }}"), context)

    assert shown.startswith("params.long = 'xxx") and shown.endswith("…") and len(shown) < 80
