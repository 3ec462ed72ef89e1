"""Expressions: parsing, finding and resolving ``${{ … }}`` references."""

from __future__ import annotations

import pytest

from nbflow.errors import NbflowError
from nbflow.manifest.expressions import (
    Context,
    ExpressionError,
    Reference,
    find_references,
    resolve,
    syntax_errors,
)

CONTEXT = Context(
    params={"limit": 3, "tags": ["a", "b"], "opts": {"k": 1}, "ratio": 0.5},
    outputs={"extract": {"rows": 10, "files": ["x.csv"]}},
    run={"id": "20240131-000000-abc", "date": "2024-01-31"},
    env={"SLACK_URL": "https://hooks", "TOKEN": "s3cret"},
)


def test_find_references_walks_nested_values() -> None:
    value = {
        "a": "${{params.limit}}",
        "b": ["x ${{ steps.extract.outputs.rows }} y", {"c": "${{ run.id }}"}],
        "d": 3,
        "e": "${{ env.SLACK_URL }}${{ secrets.TOKEN }} ${{ foo }}",
    }
    assert find_references(value) == [
        Reference("params", "limit", None, "${{params.limit}}"),
        Reference("steps", "rows", "extract", "${{ steps.extract.outputs.rows }}"),
        Reference("run", "id", None, "${{ run.id }}"),
        Reference("env", "SLACK_URL", None, "${{ env.SLACK_URL }}"),
        Reference("secrets", "TOKEN", None, "${{ secrets.TOKEN }}"),
    ]


def test_a_whole_expression_keeps_the_type() -> None:
    assert resolve("${{ params.limit }}", CONTEXT) == 3
    assert resolve("${{params.tags}}", CONTEXT) == ["a", "b"]
    assert resolve("${{ params.opts }}", CONTEXT) == {"k": 1}
    assert resolve("${{ steps.extract.outputs.rows }}", CONTEXT) == 10
    assert resolve("${{ params.ratio }}", CONTEXT) == 0.5


def test_embedded_expressions_are_interpolated() -> None:
    assert resolve("n=${{ params.limit }} on ${{ run.date }}", CONTEXT) == "n=3 on 2024-01-31"
    assert resolve("tags: ${{ params.tags }}", CONTEXT) == 'tags: ["a", "b"]'
    assert resolve("${{ secrets.TOKEN }}@${{ env.SLACK_URL }}", CONTEXT) == "s3cret@https://hooks"


def test_resolve_recurses_and_leaves_other_values() -> None:
    value = {"a": ["${{ run.id }}", 1, None], "b": {"c": "${{ params.limit }}"}, "d": "plain"}
    assert resolve(value, CONTEXT) == {
        "a": ["20240131-000000-abc", 1, None],
        "b": {"c": 3},
        "d": "plain",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "${{ params.nope }}",
            "${{ params.nope }}: unknown parameter 'nope' (known: limit, opts, ratio, tags)",
        ),
        (
            "${{ steps.load.outputs.rows }}",
            "${{ steps.load.outputs.rows }}: step 'load' has no recorded outputs",
        ),
        (
            "${{ steps.extract.outputs.n }}",
            "${{ steps.extract.outputs.n }}: "
            "step 'extract' recorded no output 'n' (known: files, rows)",
        ),
        ("x ${{ env.MISSING }}", "${{ env.MISSING }}: environment variable not set: 'MISSING'"),
        (
            "${{ secrets.MISSING }}",
            "${{ secrets.MISSING }}: secret not set in the environment: 'MISSING'",
        ),
    ],
)
def test_unknown_reference_at_run_time(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as exc:
        resolve(text, CONTEXT)
    assert str(exc.value) == message
    assert isinstance(exc.value, KeyError)
    assert isinstance(exc.value, NbflowError)


def test_malformed_expression_at_run_time() -> None:
    with pytest.raises(ExpressionError) as exc:
        resolve("${{ steps.x }}", CONTEXT)
    assert str(exc.value) == (
        "malformed expression '${{ steps.x }}'; expected ${{ steps.STEP_ID.outputs.NAME }}"
    )


def test_syntax_errors() -> None:
    assert syntax_errors("${{ params.a }} and ${{ run.id }}") == []
    assert syntax_errors("${{ foo }} ${{ run.when }} ${{ params.") == [
        "malformed expression '${{ foo }}'; an expression starts with one of "
        "params, steps, run, env, secrets, item",
        "malformed expression '${{ run.when }}'; expected ${{ run.id }} or ${{ run.date }}",
        "unterminated expression: '${{' without a closing '}}'",
    ]


def test_secrets_come_from_context_secrets_then_env() -> None:
    with_secrets = Context(env={"TOKEN": "from-env"}, secrets={"TOKEN": "from-secrets"})
    assert resolve("${{ secrets.TOKEN }}", with_secrets) == "from-secrets"
    assert resolve("${{ secrets.TOKEN }}", Context(env={"TOKEN": "from-env"})) == "from-env"
