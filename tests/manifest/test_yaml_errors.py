"""YAML syntax errors and misplaced keys in a manifest: what is wrong with the line,
in the author's words, and how to fix it (not ruamel's parser states)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_notebook

from nbflow.errors import ManifestError
from nbflow.manifest.load import load_manifest

INDENT_FIX = (
    "indent with spaces so that a key lines up with the other keys of its mapping (a "
    "step's keys under its `id:`) and each `- ` item with the other items of its list"
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (  # a step's key dedented to the list's column
            "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n  retries: 2\n",
            "5:3: invalid YAML: this line is not indented like the block it is in (the block "
            f"starting at line 3, column 3); {INDENT_FIX}",
        ),
        (  # an item one space off
            "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n   - id: b\n",
            "5:4: invalid YAML: this line is not indented like the block it is in (the block "
            f"starting at line 3, column 3); {INDENT_FIX}",
        ),
        (
            "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n      retries: 2\n",
            "5:14: invalid YAML: this key is indented deeper than the key above it, as if it "
            f"were part of that key's value; {INDENT_FIX}",
        ),
        (
            "name: demo\ndescription: a: b\nsteps: []\n",
            "2:15: invalid YAML: a value holding ': ' must be quoted; put the value in quotes: "
            'description: "a: b"',
        ),
        (
            "name: demo\nsteps: [a\n",
            "3:1: invalid YAML: the '[' at line 2, column 8 is not closed before the end of the "
            "file; close it with ']', and separate its items with ','",
        ),
        (
            "name: demo\nsteps:\n  - {id: a, needs: [b, notebook: a.ipynb}\n",
            "3:41: invalid YAML: the '[' at line 3, column 20 is not closed before '}'; close it "
            "with ']', and separate its items with ','",
        ),
        (
            "name: demo\nsteps:\n  - {id: a, notebook: a.ipynb, parameters: {x: ${{ run.id }}}}\n",
            "3:49: invalid YAML: an expression ${{ … }} inside { } or [ ] without quotes; put it "
            'in quotes: x: "${{ params.NAME }}"',
        ),
        (
            'name: "demo\nsteps: []\n',
            "3:1: invalid YAML: the quote at line 1, column 7 is never closed; end the value with "
            "the same quote character it starts with",
        ),
        (
            "name: demo\ndescription: @team\nsteps: []\n",
            "2:14: invalid YAML: a value cannot start with '@' unless it is quoted; put the value "
            'in quotes: "@…"',
        ),
        (
            "name: demo\nsteps\n  - id: a\n",
            "3:7: invalid YAML: the text at line 2, column 1 is neither `key: value` nor a `- ` "
            "item; add ': ' after the key (or '- ' before a list item), or indent it as part of "
            "the value above",
        ),
        (
            "name: demo\ndescription: *x\nsteps: []\n",
            "2:14: invalid YAML: *x refers to an anchor &x that is not defined above; define &x "
            "on an earlier value, or quote the text if '*' is meant literally",
        ),
        (
            "name: demo\nsteps: [a]]\n",
            "2:11: invalid YAML: a ']' that closes nothing; remove it, or open the list or "
            "mapping it ends with '['",
        ),
        (
            "name: demo\nsteps:\n\t- id: a\n",
            "3:1: invalid YAML: a tab character where YAML needs spaces; indent with spaces, "
            "not tabs",
        ),
    ],
    ids=[
        "dedented-key",
        "item-off-by-one",
        "key-too-deep",
        "colon-in-value",
        "unclosed-list",
        "list-closed-by-brace",
        "unquoted-expression",
        "unclosed-quote",
        "reserved-character",
        "missing-colon",
        "undefined-alias",
        "stray-bracket",
        "tab",
    ],
)
def test_yaml_syntax_errors_say_what_is_wrong_and_how_to_fix_it(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "workflow.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ManifestError) as exc:
        load_manifest(path)

    assert [str(p) for p in exc.value.problems] == [f"{path}:{problem}"]


ALLOWED_TOP = (
    "name, description, on, parameters, secrets, defaults, report, steps, sla, notify, ci, commit"
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'name: demo\non:\n  dispatch: true\nschedule: ["0 0 * * *"]\n'
            "steps:\n  - {id: a, notebook: a.ipynb}\n",
            "4:1: schedule: unknown key 'schedule'; 'schedule' is a key of `on:`: if it belongs "
            f"there, check its indentation (allowed here: {ALLOWED_TOP})",
        ),
        (
            "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\nretries: 2\n",
            "5:1: retries: unknown key 'retries'; 'retries' is a key of `defaults:` or a step: "
            f"if it belongs there, check its indentation (allowed here: {ALLOWED_TOP})",
        ),
        (  # a misspelt key, known nowhere: the close name
            "name: demo\nsteps:\n  - id: a\n    notebook: a.ipynb\n    retires: 2\n",
            "5:5: steps[0] (a).retires: unknown key 'retires'; did you mean 'retries'?",
        ),
    ],
    ids=["trigger-at-top-level", "step-key-at-top-level", "misspelt"],
)
def test_a_key_in_the_wrong_section_hints_at_its_indentation(
    tmp_path: Path, text: str, problem: str
) -> None:
    write_notebook(tmp_path / "a.ipynb", "x = 1")
    path = tmp_path / "workflow.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ManifestError) as exc:
        load_manifest(path)

    assert [str(p) for p in exc.value.problems] == [f"{path}:{problem}"]
