"""Parameter values: coerce, parse_cli_value and resolve_default for every type."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbflow.errors import Source
from nbflow.manifest.model import Parameter, ParamType
from nbflow.manifest.values import coerce, parse_cli_value, resolve_default


def param(kind: str, **kwargs: Any) -> Parameter:
    return Parameter("p", ParamType(kind), Source(Path("w.yaml"), 1, 1), **kwargs)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("str", "x", "x"),
        ("int", 3, 3),
        ("float", 2, 2.0),
        ("float", 2.5, 2.5),
        ("bool", False, False),
        ("date", dt.date(2024, 1, 31), "2024-01-31"),
        ("date", "2024-01-31", "2024-01-31"),
        ("datetime", dt.datetime(2024, 1, 31, 8, 30), "2024-01-31T08:30:00"),
        ("datetime", "2024-01-31T08:30:00+00:00", "2024-01-31T08:30:00+00:00"),
        ("datetime", dt.date(2024, 1, 31), "2024-01-31T00:00:00"),
        ("path", Path("data/x.csv"), "data/x.csv"),
        ("path", "data/x.csv", "data/x.csv"),
        ("list", ("a", dt.date(2024, 1, 1)), ["a", "2024-01-01"]),
        ("dict", {"k": [1, 2]}, {"k": [1, 2]}),
    ],
)
def test_coerce_accepts(kind: str, value: Any, expected: Any) -> None:
    assert coerce(param(kind), value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("str", 3, "expected a string, got int 3"),
        ("int", True, "expected an integer, got bool true"),
        ("int", 1.5, "expected an integer, got float 1.5"),
        ("float", "1.5", 'expected a number, got str "1.5"'),
        ("bool", "yes", 'expected true or false, got str "yes"'),
        ("bool", 1, "expected true or false, got int 1"),
        ("date", "31/01/24", 'expected a date such as 2024-01-31, got str "31/01/24"'),
        (
            "date",
            dt.datetime(2024, 1, 31, 8),
            "expected a date such as 2024-01-31 (without a time), got datetime 2024-01-31T08:00:00",
        ),
        ("datetime", "soon", 'expected a datetime such as 2024-01-31T08:00:00, got str "soon"'),
        ("path", "", 'expected a path (non-empty text), got str ""'),
        ("list", "a,b", 'expected a list, got str "a,b"'),
        ("dict", [1], "expected a mapping with text keys, got list [1]"),
    ],
)
def test_coerce_rejects(kind: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        coerce(param(kind), value)
    assert str(exc.value) == message


def test_choice() -> None:
    region = param("choice", choices=("eu", "us"))
    assert coerce(region, "eu") == "eu"
    with pytest.raises(ValueError) as exc:
        coerce(region, "fr")
    assert str(exc.value) == 'expected one of "eu", "us", got "fr"'
    numbers = param("choice", choices=(1, 2))
    assert parse_cli_value(numbers, "2") == 2
    with pytest.raises(ValueError):
        coerce(param("choice", choices=(1,)), True)


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("str", "hello world", "hello world"),
        ("int", "3", 3),
        ("int", " -4 ", -4),
        ("float", "1.5", 1.5),
        ("bool", "true", True),
        ("bool", "No", False),
        ("bool", "1", True),
        ("bool", "0", False),
        ("date", "2024-01-31", "2024-01-31"),
        ("datetime", "2024-01-31T08:00", "2024-01-31T08:00:00"),
        ("path", "data/x.csv", "data/x.csv"),
        ("list", '["a", 1]', ["a", 1]),
        ("list", "[a, b]", ["a", "b"]),
        ("dict", '{"k": 1}', {"k": 1}),
        ("dict", "{k: v, n: 2}", {"k": "v", "n": 2}),
    ],
)
def test_parse_cli_value(kind: str, text: str, expected: Any) -> None:
    assert parse_cli_value(param(kind), text) == expected


def test_parse_cli_value_today_and_now() -> None:
    assert parse_cli_value(param("date"), "today") == dt.date.today().isoformat()
    assert parse_cli_value(param("datetime"), "now")[:10] == dt.date.today().isoformat()


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("int", "3.5", "expected an integer, got '3.5'"),
        ("float", "x", "expected a number, got 'x'"),
        ("bool", "maybe", "expected true/false, yes/no or 1/0, got 'maybe'"),
        ("date", "31/01/2024", 'expected a date such as 2024-01-31, got str "31/01/2024"'),
        ("list", "{k: v}", 'expected a list, got dict {"k": "v"}'),
        ("list", "[a, ", "expected list as JSON or YAML flow such as [a, b], got '[a, '"),
    ],
)
def test_parse_cli_value_rejects(kind: str, text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_cli_value(param(kind), text)
    assert str(exc.value) == message


def test_resolve_default() -> None:
    now = dt.datetime(2024, 1, 31, 23, 59, 1, tzinfo=dt.UTC)
    assert resolve_default(param("date", default="today", has_default=True), now) == "2024-01-31"
    assert resolve_default(param("datetime", default="now", has_default=True), now) == (
        "2024-01-31T23:59:01+00:00"
    )
    assert resolve_default(param("int", default=3, has_default=True), now) == 3
    assert resolve_default(param("date", default=dt.date(2024, 2, 1)), now) == "2024-02-01"
    assert resolve_default(param("str"), now) is None


@given(st.integers())
def test_int_text_round_trips(number: int) -> None:
    assert parse_cli_value(param("int"), str(number)) == number


@given(st.dates())
def test_date_text_round_trips(day: dt.date) -> None:
    assert parse_cli_value(param("date"), day.isoformat()) == day.isoformat()
