"""fast_yaml: libyaml reads a plain manifest exactly as ruamel's round trip does —
the same values, of the same types, at the same positions — or leaves it to ruamel."""

from __future__ import annotations

import marshal
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import write_notebook
from hypothesis import given, settings
from hypothesis import strategies as st

from nbflow.errors import ManifestError
from nbflow.manifest import document, fast_yaml
from nbflow.manifest.load import load_manifest
from nbflow.project import Project

ROOT = Path(__file__).resolve().parents[2]
FILE = Path("workflow.yaml")


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def assert_read_alike(text: str) -> None:
    """libyaml's reading of ``text`` is ruamel's: values, types, every position; and so
    is that reading as the disk cache keeps it and reads it back."""
    fast = fast_yaml.parse(text)
    assert fast is not None, f"left to ruamel: {text!r}"
    kept = fast_yaml._unpacked(marshal.loads(marshal.dumps(fast_yaml._packed(fast.root))))
    assert kept is not None
    root, _, _ = document._parse_round_trip(FILE, text)
    data = document._plain(root)
    by_ruamel = document.Document(FILE, root, data, None)
    for reading in (fast.root, kept):
        assert _typed(document._plain(reading)) == _typed(data)
        by_libyaml = document.Document(FILE, reading, data, None)
        for path in _paths(data):
            assert by_libyaml.source(path) == by_ruamel.source(path), path
            if path and isinstance(path[-1], str):
                assert by_libyaml.source(path, key=True) == by_ruamel.source(path, key=True)


READ_ALIKE = [
    # YAML 1.2 as ruamel resolves it: yes/on/y are text, not booleans
    "true",
    "True",
    "FALSE",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "~",
    "null",
    "NULL",
    "0",
    "-0",
    "12",
    "-1",
    "0.5",
    "-1.50",
    "2024-01-31",
    "2024-02-29",
    "1.2.3",
    "v1.5",
    "3rd",
    "-a",
    "a b",
    "a:b",
    "é 日本 😀",
    "${{ params.x }}",
    "x != 1",
    "http://x.y/z?a=1#f",
    "'it''s'",
    "''",
    '"é"',
    '""',
    "[a, 1, true, 2024-01-31]",
    "{a: {b: [c]}}",
    "{}",
    "[]",
]
BLOCKS = [
    "|\n  a\n  b\n", "|-\n  a\n  b\n", "|+\n  a\n\n", ">\n  a\n  b\n", ">-\n  a\n\n  c\n",
    "|2\n    a\n   b\n", ">\n  a\n    indented\n  b\n", "|\n  # not a comment\n",
    "plain\n  continued\n  lines", "plain\n\n  with blank",
]  # fmt: skip


@pytest.mark.parametrize("scalar", READ_ALIKE)
def test_a_plain_value_reads_as_ruamel_reads_it(scalar: str) -> None:
    assert_read_alike(f"name: demo\nv: {scalar}\nafter: 1\n")
    assert_read_alike(f"name: demo\nl:\n  - {scalar}\n  - k: {scalar}\n    z: 1\n")
    if not any(c in scalar for c in "{},"):
        assert_read_alike(f"name: demo\nflow: [{scalar}, {{k: {scalar}, z: 1}}]\n")


@pytest.mark.parametrize("text", BLOCKS)
def test_a_block_or_folded_value_reads_as_ruamel_reads_it(text: str) -> None:
    assert_read_alike(f"name: demo\nv: {text}\nafter: 1\n")
    nested = text.replace("\n", "\n  ").rstrip(" ")
    assert_read_alike(f"name: demo\nm:\n  k: {nested}\nz: 1\n")


@pytest.mark.parametrize("manifest", sorted(ROOT.glob("workflows/*/workflow.yaml")), ids=str)
def test_the_example_manifests_are_read_by_libyaml_as_by_ruamel(manifest: Path) -> None:
    assert_read_alike(manifest.read_text(encoding="utf-8"))


LEFT_TO_RUAMEL = {
    "a number in another form": "n: 1_000\nh: 0x1f\ne: 1e3\no: 007",
    "a date that does not exist": "day: 2024-02-30",
    "a date and time": "at: 2024-01-31T08:00:00Z",
    "a tag": "steps: !!str x",
    "a non-specific tag": "n: ! 12",
    "an anchor and alias": "a: &x [1]\nb: *x",
    "a merge key": "base: {a: 1}\nc: {<<: {a: 1}}",
    "a duplicate key": "name: a\nname: b",
    "a key that is not text": "1: x",
    "an empty value (ruamel places it at the next token)": "name:\nsteps: []",
    "an escape": 'name: "a\\tb"',
    "a quoted value on two lines": "name: 'a\n  b'",
    "a tab": "name:\tdemo",
    "a directive": "%YAML 1.1\n---\nname: demo",
    "a byte-order mark": "\ufeffname: demo",
    "a control character": "name: a\x07b",
    "a root that is not a mapping": "- a\n- b",
    "an empty document": "# nothing\n",
    "invalid YAML": "name: demo\nsteps: [a",
    "nesting past the limit": "a: " + "[" * 70 + "]" * 70,
}


@pytest.mark.parametrize("text", LEFT_TO_RUAMEL.values(), ids=LEFT_TO_RUAMEL.keys())
def test_what_libyaml_may_read_otherwise_is_left_to_ruamel(text: str) -> None:
    assert fast_yaml.parse(text) is None


#: Characters around the edges of what ruamel's reader accepts.
EDGES = "\x00\x08\t\n\x0b\x0c\r\x1f !~\x7f\x80\x85\x9f\xa0\u2027\u2028\u2029\u202a"
EDGES += "\ud7ff\ue000\ufefe\ufeff\uff00\ufffd\ufffe\U00010000\U0010ffff%ab"


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(EDGES) | st.characters(), max_size=12))
def test_ascii_text_is_declined_exactly_as_the_unicode_classes_decline_it(text: str) -> None:
    """ASCII text is checked with a small pattern (the Unicode classes take ~4 ms to
    compile): it declines exactly what the full pattern declines."""
    full = re.compile(fast_yaml._DECLINED, re.MULTILINE)
    for sample in (text, text.encode("ascii", "replace").decode("ascii")):
        assert fast_yaml._is_declined(sample) == bool(full.search(sample)), repr(sample)


def test_a_problem_in_a_manifest_read_by_libyaml_is_located_as_by_ruamel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "workflows" / "demo"
    write_notebook(folder / "a.ipynb", "x = 1", ["y = x"])
    manifest = folder / "workflow.yaml"
    manifest.write_text(
        "name: demo\nsteps:\n  - {id: a, notebook: a.ipynb}\n  - id: b\n"
        "    notebook: a.ipynb\n    needs: [a, extrct]\n    retries: -1\n",
        encoding="utf-8",
    )
    assert fast_yaml.parse(manifest.read_text(encoding="utf-8")) is not None

    def problems() -> list[str]:
        with pytest.raises(ManifestError) as exc:
            load_manifest(manifest)
        return [str(p) for p in exc.value.problems]

    by_libyaml = problems()
    monkeypatch.setattr(fast_yaml, "parse", lambda text: None)
    assert by_libyaml == problems()
    assert by_libyaml[0].startswith(f"{manifest}:6:16: steps[1] (b).needs[1]: unknown step")
    assert len(by_libyaml) == 2


def test_project_settings_read_by_libyaml_equal_ruamels(tmp_path: Path) -> None:
    from ruamel.yaml import YAML

    text = "runs_dir: records\ncommit:\n  max_file_bytes: 1000\n  lfs: [data/*.csv]\n"
    (tmp_path / "nbflow.yaml").write_text(text, encoding="utf-8")
    assert fast_yaml.parse(text) is not None
    assert _typed(Project(tmp_path).config) == _typed(YAML(typ="safe").load(text))


@pytest.fixture
def kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The disk cache, empty, in a folder of its own: where readings are kept."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NBFLOW_YAML_CACHE", raising=False)
    return tmp_path / "nbflow" / "yaml"


MANIFEST = "name: demo\ndefaults: {cache: true}\nsteps:\n  - {id: a, notebook: a.ipynb}\n"


def test_a_text_read_before_is_read_back_without_libyaml(
    kept: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fast_yaml.parse(MANIFEST)
    assert first is not None
    assert len(list(kept.iterdir())) == 1

    def no_libyaml(*args: object) -> None:
        raise AssertionError("read by libyaml again")

    monkeypatch.setattr(fast_yaml, "_Reader", no_libyaml)
    again = fast_yaml.parse(MANIFEST)

    assert again is not None and again.root is not first.root
    assert _typed(again.root) == _typed(first.root)
    assert again.root["steps"].lc.item(0) == first.root["steps"].lc.item(0) == (3, 4)
    assert again.root.lc.value("defaults") == first.root.lc.value("defaults") == (1, 10)


def test_a_kept_reading_that_cannot_be_read_is_read_by_libyaml_again(kept: Path) -> None:
    assert fast_yaml.parse(MANIFEST) is not None
    (file,) = kept.iterdir()
    for damaged in (b"not marshal", marshal.dumps(("map", ("name",))), marshal.dumps([1])):
        file.write_bytes(damaged)

        reading = fast_yaml.parse(MANIFEST)

        assert reading is not None
        assert reading.root["steps"][0] == {"id": "a", "notebook": "a.ipynb"}
        assert fast_yaml._unpacked(marshal.loads(file.read_bytes())) is not None  # rewritten


def test_nothing_is_kept_with_the_cache_off(kept: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBFLOW_YAML_CACHE", "0")
    assert fast_yaml.parse(MANIFEST) is not None
    assert not kept.exists()


def test_a_text_left_to_ruamel_is_not_kept(kept: Path) -> None:
    assert fast_yaml.parse("name: a\nname: b") is None
    assert not kept.exists()
