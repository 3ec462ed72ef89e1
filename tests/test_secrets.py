"""Masking secrets: the forms docs/security.md promises."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

from nbflow.secrets import Redactor

PW = "Pä'ss\\w\"rd9/+"  # a non-ASCII letter, both quotes, a backslash, URL-unsafe marks
PIN = "73914285"
REDACTOR = Redactor({"PW": PW, "PIN": PIN})


def test_numbers_whose_text_holds_a_secret_are_masked() -> None:
    data = {"a": 73914285, "b": 1739142850, "c": 73914285.5, "d": True, "e": 12, PIN: [None]}

    assert REDACTOR.data(data) == {
        "a": "***",
        "b": "1***0",
        "c": "***.5",
        "d": True,
        "e": 12,
        "***": [None],
    }


def test_each_printed_form_is_masked() -> None:
    printed = [
        PW,
        json.dumps({"pw": PW}),
        json.dumps({"pw": PW}, ensure_ascii=False),
        json.dumps({"pw": PW}).replace("\\u00e4", "\\u00E4"),
        str({"pw": PW}),
        str([PW.encode()]),
        ascii(PW),
        quote(PW),
        quote(PW, safe=""),
        quote_plus(PW),
        base64.b64encode(PW.encode()).decode(),
        base64.urlsafe_b64encode(PW.encode()).decode().rstrip("="),
        base64.b64encode(b"user:" + PW.encode()).decode(),
    ]

    assert [REDACTOR.text(line) for line in printed] == [
        "***",
        '{"pw": "***"}',
        '{"pw": "***"}',
        '{"pw": "***"}',
        "{'pw': '***'}",
        "[b'***']",
        "'***'",
        "***",
        "***",
        "***",
        "***",
        "***",
        "dXNlcjp***w==",  # user: and the padding depend on more than the secret
    ]


def test_tokens_nbflow_holds_are_masked_undeclared() -> None:
    env = {"GITHUB_TOKEN": "token-of-GITHUB_TOKEN", "GH_TOKEN": "token-of-GH_TOKEN"}

    redactor = Redactor.from_environment([], env)

    assert redactor.text("token-of-GITHUB_TOKEN token-of-GH_TOKEN") == "*** ***"


def test_a_secret_in_a_file_is_named_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 13 + json.dumps({"pw": PW}).encode() + b"y" * 40)
    clean = tmp_path / "clean.bin"
    clean.write_bytes(b"x" * 100)

    assert REDACTOR.secret_in_file(path, chunk=16) == "PW"
    assert REDACTOR.secret_in_file(clean, chunk=16) is None
    assert Redactor({}).secret_in_file(path) is None
