from __future__ import annotations

import pytest

from nbflow.manifest.durations import parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        ("45", 45.0),
        ("30s", 30.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("250ms", 0.25),
        ("2m30s", 150.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["10x", "", "m", "ten minutes", True, None, [1]])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError) as exc:
        parse_duration(value)
    assert str(exc.value) == (
        f"expected a duration such as 30, '30s', '10m', '1h' or '1h30m', got {value!r}"
    )


def test_negative_duration() -> None:
    with pytest.raises(ValueError) as exc:
        parse_duration(-1)
    assert str(exc.value) == "a duration cannot be negative, got -1"
