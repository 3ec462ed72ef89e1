"""A JSON Schema compiled by fastjsonschema, the compiled code kept on disk: a kept
check is the same check, and a cache that is damaged or off changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import fastjsonschema
import pytest

from nbflow.manifest.fast_schema import compiled_check

SCHEMA = json.dumps(
    {
        "$id": "https://example.com/schema.json",  # names fastjsonschema's function
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}},
        "additionalProperties": False,
    }
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NBFLOW_SCHEMA_CACHE", raising=False)
    return tmp_path / "nbflow" / "schemas"


def _agrees_with_the_schema(check: object) -> None:
    assert callable(check)
    assert check({"name": "demo"}) == {"name": "demo"}
    for wrong in ({}, {"name": "Demo"}, {"name": "demo", "extra": 1}, []):
        with pytest.raises(fastjsonschema.JsonSchemaException):
            check(wrong)


def test_the_compiled_check_is_kept_and_the_kept_one_checks_the_same(cache: Path) -> None:
    _agrees_with_the_schema(compiled_check(SCHEMA))
    kept = list(cache.glob("*.marshal"))
    assert len(kept) == 1

    _agrees_with_the_schema(compiled_check(SCHEMA))  # read from the file this time
    assert list(cache.glob("*.marshal")) == kept


def test_another_schema_is_kept_apart(cache: Path) -> None:
    compiled_check(SCHEMA)
    other = compiled_check(json.dumps({"type": "integer"}))

    assert other(3) == 3
    assert len(list(cache.glob("*.marshal"))) == 2


def test_a_damaged_kept_check_is_compiled_again(cache: Path) -> None:
    compiled_check(SCHEMA)
    (kept,) = cache.glob("*.marshal")
    kept.write_bytes(b"not marshal data")

    _agrees_with_the_schema(compiled_check(SCHEMA))
    assert kept.read_bytes() != b"not marshal data"


def test_nothing_is_kept_when_the_cache_is_off_or_cannot_be_written(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBFLOW_SCHEMA_CACHE", "0")
    _agrees_with_the_schema(compiled_check(SCHEMA))
    assert not cache.exists()

    monkeypatch.delenv("NBFLOW_SCHEMA_CACHE")
    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the folder would be")
    _agrees_with_the_schema(compiled_check(SCHEMA))
