"""Fuzz the manifest loader: whatever the file holds, ``load_manifest`` either loads
it or raises ManifestError whose every problem is one ``FILE:LINE:COL: ...`` line;
no other exception, no hang (each case has a deadline).

Strategies, with their example counts (:data:`EXAMPLES`, 3,400 in all, plus 60
through `nbflow validate`), about 30 s of CPU time:

- random YAML documents: recursive dicts, lists and scalars, dumped in block or
  flow style, sometimes under manifest keys;
- near-valid manifests: the example below with 1-4 random edits (delete, replace
  with a value of the wrong type or an awkward one, add an unknown key, duplicate);
- textual mutations of the example: characters inserted or deleted, lines repeated
  (duplicate keys), spaces turned into tabs, a BOM, a non-UTF-8 byte, truncation;
- unquoted scalars YAML types by their look, written over values of the example:
  dates and datetimes, valid or not (``2024-02-30``), numbers that are none (``+_``),
  explicit tags on values of any shape (``!!int x``, ``!!omap [a]``); none stops
  reading the file;
- random text over YAML's punctuation, and random bytes;
- hostile documents: deep nesting, alias bombs, recursive aliases, sizes over the
  limit (a handful of fixed cases, also through ``nbflow validate``).
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbflow.cli import main
from nbflow.errors import ManifestError
from nbflow.manifest.load import load_manifest
from tests.helpers import write_notebook

#: The suite's timeout (300 s, pyproject) ends the whole process when it fires (its
#: "thread" method): under pytest-xdist, "worker crashed" / "node down". These tests
#: are seconds of CPU each, but at load 25 on 2 cores test_random_documents took
#: over 300 s of wall time and took its worker down. A hang is caught per example
#: by hypothesis's deadline (``fuzz``), so the whole test gets a bound that holds.
pytestmark = pytest.mark.timeout(1800)

EXAMPLES = {
    "documents": 700,
    "near_valid": 1000,
    "text_mutations": 800,
    "typed_scalars": 400,
    "raw": 500,
}


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=20000,  # ms per case: catches a hang, not a loaded machine
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


EXAMPLE: dict[str, Any] = {
    "name": "finance-daily",
    "description": "Load the day's payment exports",
    "on": {
        "schedule": ["0 0 * * *"],
        "push": {"paths": ["workflows/finance-daily/**"]},
        "dispatch": True,
    },
    "parameters": {
        "run_date": {"type": "date", "default": "today", "description": "Day to process"},
        "region": {"type": "choice", "choices": ["eu", "us"], "default": "eu"},
        "limit": {"type": "int", "required": True},
        "tables": {"type": "list", "default": ["a", "b"]},
    },
    "secrets": ["WAREHOUSE_TOKEN"],
    "defaults": {"timeout": "10m", "retries": 1, "retry_delay": "5s", "kernel": "python3"},
    "steps": [
        {
            "id": "check_sources",
            "notebook": "check_sources.ipynb",
            "parameters": {"run_date": "${{ params.run_date }}"},
        },
        {
            "id": "transform",
            "notebook": "transform.ipynb",
            "parameters": {"rows_expected": "${{ steps.check_sources.outputs.rows }}"},
            "timeout": "30m",
            "inputs": ["data/*.csv"],
            "produces": ["data/staging/${{ params.run_date }}.csv"],
        },
        {"id": "build_view", "notebook": "build_view.ipynb", "needs": ["transform"]},
        {"id": "cleanup", "notebook": "cleanup.ipynb", "retries": 0, "needs": []},
    ],
    "notify": {"on_failure": ["${{ secrets.WAREHOUSE_TOKEN }}"]},
    "commit": {"target": "current"},
}


def dump(data: Any, flow: bool = False) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = flow
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


EXAMPLE_TEXT = dump(EXAMPLE)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "workflows" / "finance-daily"
    write_notebook(
        folder / "check_sources.ipynb", "run_date = ''", ["import nbflow\nnbflow.record('rows', 1)"]
    )
    write_notebook(folder / "transform.ipynb", "rows_expected = 0\nlimit = 0", ["1"])
    write_notebook(folder / "build_view.ipynb", None, ["1"])
    write_notebook(folder / "cleanup.ipynb", "region = 'eu'", ["1"])
    path = folder / "workflow.yaml"
    path.write_text(EXAMPLE_TEXT, encoding="utf-8")
    load_manifest(path)  # the example itself is valid
    return path


def check(path: Path, data: bytes) -> list[str]:
    """Load ``data`` as the manifest at ``path``: loads, or every problem is one line
    starting with FILE:LINE:COL; the problems."""
    path.write_bytes(data)
    try:
        load_manifest(path)
    except ManifestError as exc:
        assert exc.problems
        located = re.compile(re.escape(str(path)) + r":\d+:\d+: .")
        for problem in exc.problems:
            text = str(problem)
            assert located.match(text), text
            assert "\n" not in text and "\r" not in text, text
        return [str(p) for p in exc.problems]
    return []


# -- strategies ----------------------------------------------------------------------

WORDS = [
    *EXAMPLE,
    "id",
    "notebook",
    "needs",
    "type",
    "default",
    "choices",
    "required",
    "timeout",
    "retries",
    "retry_delay",
    "kernel",
    "inputs",
    "produces",
    "outputs",
    "schedule",
    "push",
    "paths",
    "on_failure",
    "on_success",
    "target",
    "dispatch",
]
AWKWARD = [
    "",
    " ",
    "\n",
    "\t",
    "é",
    "a" * 300,
    "${{",
    "${{ }}",
    "${{ params.nope }}",
    "${{ secrets.WAREHOUSE_TOKEN }}",
    "${{ env.WAREHOUSE_TOKEN }}",
    "${{ steps.cleanup.outputs.x }}",
    "${{ steps.check_sources.outputs }}",
    "../up.ipynb",
    "/etc/passwd",
    "C:\\x.ipynb",
    "x.py",
    "10m",
    "1h30m",
    "-1",
    "0 0 * *",
    "61 * * * *",
    "today",
    "now",
    "2024-02-30",
    "check_sources",
    "transform",
    "build_view",
    "cleanup",
    "python3",
    "no-such-kernel",
    "a.b",
    "UPPER",
    "with space",
    "null",
    "~",
    "yes",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(AWKWARD),
    st.dates(),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=12), st.integers(-5, 5))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    value = draw(st.one_of(values, st.dictionaries(st.sampled_from(WORDS), values, max_size=9)))
    return dump(value, flow=draw(st.booleans())).encode()


def _locations(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in ``node``, depth first."""
    found: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in list(items):
        found.append((node, key))
        if isinstance(child, dict | list) and child:
            found.extend(_locations(child))
    return found


@st.composite
def near_valid(draw: st.DrawFn) -> bytes:
    doc = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 4))):
        places = _locations(doc)
        container, key = places[draw(st.integers(0, len(places) - 1))]
        action = draw(st.sampled_from(["delete", "replace", "awkward", "add", "duplicate"]))
        if action == "delete":
            del container[key]
        elif action == "replace":
            container[key] = draw(values)
        elif action == "awkward":
            container[key] = draw(st.sampled_from(AWKWARD))
        elif action == "add" and isinstance(container, dict):
            container[draw(keys)] = draw(values)
        elif action == "duplicate" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        if not doc:
            break
    return dump(doc, flow=draw(st.booleans())).encode()


@st.composite
def text_mutations(draw: st.DrawFn) -> bytes:
    text = EXAMPLE_TEXT
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines(keepends=True) or [""]
        kind = draw(
            st.sampled_from(["insert", "delete", "repeat", "tab", "bom", "truncate", "swap"])
        )
        at = draw(st.integers(0, max(0, len(text) - 1)))
        line = draw(st.integers(0, len(lines) - 1))
        if kind == "insert":
            noise = draw(st.text(alphabet=":-[]{}&*!|>'\"%@`#,?\t\n \\", max_size=3))
            text = text[:at] + noise + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 10)) :]
        elif kind == "repeat":
            text = "".join(lines[: line + 1] + [lines[line]] + lines[line + 1 :])
        elif kind == "tab":
            text = "".join(
                s.replace("  ", "\t", 1) if i == line else s for i, s in enumerate(lines)
            )
        elif kind == "bom":
            text = "\ufeff" + text
        elif kind == "truncate":
            text = text[:at]
        elif kind == "swap" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[line], lines[other] = lines[other], lines[line]
            text = "".join(lines)
    data = text.encode()
    if draw(st.integers(0, 9)) == 0:  # a byte that is not UTF-8
        at = draw(st.integers(0, len(data)))
        data = data[:at] + bytes([draw(st.integers(0x80, 0xFF))]) + data[at:]
    return data


#: Dates and datetimes as YAML's timestamp resolver matches them, most of them invalid.
timestamps = st.from_regex(
    r"\A[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"([Tt ][0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,7})?( ?(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?\Z",
)
UNBUILDABLE = ["2024-02-30", "2024-13-01", "0000-01-01", "+_", "-_", "._"]
TAGS = ["int", "float", "bool", "null", "str", "timestamp", "binary", "omap", "set", "pairs"]
#: Explicit YAML tags over values of any shape (``!!bool x``, ``!!omap [a]``).
tagged = st.builds(
    "!!{} {}".format,
    st.sampled_from([*TAGS, "seq", "map", "merge", "value"]),
    st.sampled_from(["x", "1", "1.5", "", "[a]", "{a: 1}", "[{a: 1}]", "2024-02-30", "'x'"]),
)


@st.composite
def typed_scalars(draw: st.DrawFn) -> bytes:
    """The example with 1-3 values replaced by unquoted scalars typed by their look."""
    lines = EXAMPLE_TEXT.splitlines(keepends=True)
    values = [i for i, line in enumerate(lines) if re.search(r"(: |- )\S", line)]
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.sampled_from(values))
        scalar = draw(st.one_of(timestamps, st.sampled_from(UNBUILDABLE), tagged))
        head = re.match(r"\s*(- )?([^:]*: )?", lines[index])
        lines[index] = (head.group(0) if head else "") + scalar + "\n"
    return "".join(lines).encode()


raw = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"%@`#,? \t\n\\~0.=<")), max_size=200).map(
        str.encode
    ),
    st.text(max_size=100).map(str.encode),
    st.binary(max_size=200),
)


# -- the fuzz tests --------------------------------------------------------------------


@fuzz(EXAMPLES["documents"])
@given(data=documents())
def test_random_documents(manifest: Path, data: bytes) -> None:
    check(manifest, data)


@fuzz(EXAMPLES["near_valid"])
@given(data=near_valid())
def test_near_valid_manifests(manifest: Path, data: bytes) -> None:
    check(manifest, data)


@fuzz(EXAMPLES["text_mutations"])
@given(data=text_mutations())
def test_textual_mutations(manifest: Path, data: bytes) -> None:
    check(manifest, data)


@fuzz(EXAMPLES["typed_scalars"])
@given(data=typed_scalars())
def test_unquoted_typed_scalars(manifest: Path, data: bytes) -> None:
    # each such value is its own problem, at the value: reading goes on past it
    assert not [p for p in check(manifest, data) if "a value cannot be built" in p]


@fuzz(EXAMPLES["raw"])
@given(data=raw)
def test_random_text_and_bytes(manifest: Path, data: bytes) -> None:
    check(manifest, data)


def billion_laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join([*lines, "name: finance-daily", f"steps: *a{levels - 1}", ""])


HOSTILE = {
    "deep flow list": "name: x\nsteps: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "deep flow map": "name: x\nsteps: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n",
    "deep block list": "steps:\n" + "".join(" " * i + "- \n" for i in range(1, 400)),
    "billion laughs": billion_laughs(),
    "recursive alias": "name: finance-daily\nsteps: &s\n  - *s\n",
    "merge of an alias": "base: &b {id: a, notebook: a.ipynb}\nname: x\nsteps:\n  - <<: *b\n",
    "too large": "name: x\nsteps:\n" + "  - {id: s, notebook: s.ipynb}\n" * 20_000,
    "newline in a key": 'name: finance-daily\n"bad\\nkey": 1\nsteps: []\n',
    "empty": "",
    "only a BOM": "\ufeff",
    "tabs": "name: x\n\tsteps: []\n",
    "duplicate keys": EXAMPLE_TEXT + EXAMPLE_TEXT,
    "python tag": "name: !!python/object/apply:os.system [echo]\nsteps: []\n",
    "yaml directive": "%YAML 1.1\n---\n" + EXAMPLE_TEXT + "dispatch: +_\n",
}
EXPECTED = {
    "deep flow list": ":2:71: nested more than 64 levels deep; ",
    "deep flow map": ":2:257: nested more than 64 levels deep; ",
    "billion laughs": ":6:5: too many values (more than 100,000, aliases expanded); ",
    "recursive alias": ":2:8: recursive alias: a node contains itself; ",
    "too large": ":1:1: the manifest is too large (620,015 bytes; the limit is 262,144); ",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_documents_fail_fast_with_one_line(manifest: Path, text: str) -> None:
    import time

    started = time.monotonic()
    check(manifest, text.encode())
    # expanded or recursed into, these take minutes or never end; refused, well under a second
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("name", EXPECTED)
def test_limits_are_named_and_located(manifest: Path, name: str) -> None:
    manifest.write_text(HOSTILE[name], encoding="utf-8")
    with pytest.raises(ManifestError) as exc:
        load_manifest(manifest)
    assert str(exc.value) == (
        f"{manifest}{EXPECTED[name]}a manifest needs only a few levels and a few hundred "
        "values; see docs/manifest.md"
    )


@settings(
    max_examples=60, deadline=20000, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    data=st.one_of(
        near_valid(), text_mutations(), st.sampled_from([t.encode() for t in HOSTILE.values()])
    )
)
def test_validate_command_exits_2_without_a_traceback(manifest: Path, data: bytes) -> None:
    manifest.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(manifest)])
    assert code in (0, 2), err.getvalue()
    assert "Traceback" not in out.getvalue() + err.getvalue()
    if code == 2:
        lines = out.getvalue().splitlines()
        assert lines and all(line.startswith(f"{manifest}:") for line in lines)


def test_a_long_chain_written_backwards_loads_and_plans(manifest: Path) -> None:
    """Cycle search and ordering used to recurse once per step, and to rescan every
    step for each one placed: 3,000 steps each needing the next raised RecursionError."""
    import time

    from nbflow.plan import plan_run

    count = 3000
    steps = "".join(
        f"  - {{id: s{i}, notebook: cleanup.ipynb, needs: [s{i + 1}]}}\n" for i in range(count - 1)
    )
    manifest.write_text(
        f"name: finance-daily\nsteps:\n{steps}  - {{id: s{count - 1}, notebook: cleanup.ipynb, "
        "needs: []}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    plan = plan_run(load_manifest(manifest))
    assert time.monotonic() - started < 60  # quadratic, it took minutes; linear, well under 1 s
    assert plan.order[:2] == (f"s{count - 1}", f"s{count - 2}")
    assert len(plan.layers()) == count
