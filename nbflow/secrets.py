"""Secrets: read them in notebooks, and keep their values out of everything written.

A secret is an environment variable named under ``secrets:`` in the manifest. A
notebook reads it with ``nbflow.secret("NAME")``; it never travels as a papermill
parameter, so it never reaches the injected cell or the notebook's metadata.
Whatever a notebook does with it (prints it, raises it, records it), nbflow
redacts every declared secret value, and tokens nbflow itself holds, to ``***``
before anything reaches a run folder, a commit, a notification or a log line.

Masked forms (docs/security.md lists them for users; :func:`masked_forms` is the
list): the raw text; its URL encodings; its JSON string escapes (``json.dumps``,
with and without ``ensure_ascii``); its Python reprs (``repr``/``ascii`` of the text
and ``repr`` of its UTF-8 bytes, as ``print(dict)`` and ``print(s.encode())`` show
them); its base64, whole or inside a longer base64 text. A number whose text holds
a secret (``int(PIN)`` recorded, displayed or passed with ``-p``) is masked like
text: JSON-like data gets the masked string in its place.

This module is imported inside kernels: keep it free of heavy imports.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary words; such secrets are refused
# A secret inside a longer base64 text (``Basic base64(user:TOKEN)``, a file or image
# a notebook embeds) encodes differently at each of the 3 byte alignments; the
# characters that depend on the secret alone are masked when at least this long, so
# short cores cannot mask unrelated base64 by chance.
MIN_EMBEDDED_LENGTH = 8
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")


class SecretNotSetError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def secret(name: str) -> str:
    """The value of secret ``name`` (an environment variable). Works in Jupyter too."""
    value = os.environ.get(name)
    if not value:
        raise SecretNotSetError(
            f"secret {name} is not set: export {name}=... before running, or add it to "
            "the repository's Actions secrets and list it under `secrets:` in workflow.yaml"
        )
    return value


def masked_forms(value: str) -> set[str]:
    """Every form of ``value`` that is masked (at least MIN_LENGTH characters long)."""
    raw = value.encode()
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    forms.update(_escaped(value))
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms.update({encoded, encoded.rstrip("=")})
        forms.update(c for c in _embedded(encode, raw) if len(c) >= MIN_EMBEDDED_LENGTH)
    return {f for f in forms if len(f) >= MIN_LENGTH}


def _escaped(value: str) -> set[str]:
    """``value`` as it appears inside a JSON string (``json.dumps``, ASCII-only or not,
    ``\\u`` escapes in lower or upper case) and inside a Python str or bytes repr."""
    ascii_json = json.dumps(value)[1:-1]
    return {
        ascii_json,
        re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m[0][2:].upper(), ascii_json),
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        ascii(value)[1:-1],
        repr(value.encode())[2:-1],
    }


def _embedded(encode: Callable[[bytes], bytes], raw: bytes) -> list[str]:
    """The part of ``raw``'s base64 that is the same wherever ``raw`` sits in a
    longer input, for each of the three alignments (0, 1 or 2 bytes before it)."""
    cores = []
    for shift in range(3):
        encoded = encode(b"\0" * shift + raw).decode()
        first, stop = (shift * 8 + 5) // 6, ((shift + len(raw)) * 8) // 6
        cores.append(encoded[first:stop])
    return cores


class Redactor:
    """Replaces known secret values, and the forms of them we mask, with ``***``."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        """``secrets``: value by name; names are only ever shown, never values."""
        self._names: dict[str, str] = {}  # masked form -> name of its secret
        for name, value in sorted(secrets.items()):
            if value and len(value) >= MIN_LENGTH:
                self._names.update(dict.fromkeys(masked_forms(value), name))
        # longest first, so a value containing another is masked whole
        ordered = sorted(self._names, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes = (
            re.compile(b"|".join(re.escape(f.encode()) for f in ordered)) if ordered else None
        )
        self._longest = len(ordered[0].encode()) if ordered else 0

    @classmethod
    def from_environment(cls, names: Iterable[str], env: Mapping[str, str]) -> Redactor:
        """A redactor for the declared secret ``names`` and the tokens nbflow holds."""
        wanted = {*names, *TOKEN_VARIABLES}
        return cls({name: env[name] for name in wanted if env.get(name)})

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        return self._pattern.sub(MASK, value) if self._pattern else value

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with every string (keys too) redacted, and
        every number whose text holds a secret replaced by that text, redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.data(v) for k, v in value.items()}
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = json.dumps(value)
            masked = self.text(text)
            return value if masked == text else masked
        return value

    def secret_in(self, data: bytes) -> str | None:
        """The name of a secret some masked form of which occurs in ``data``."""
        found = self._bytes.search(data) if self._bytes else None
        return self._names[found[0].decode()] if found else None

    def secret_in_file(self, path: Path, chunk: int = 1 << 20) -> str | None:
        """The name of a secret some masked form of which occurs in the file ``path``,
        read in chunks that overlap by the longest form."""
        if self._bytes is None:
            return None
        tail = b""
        with path.open("rb") as handle:
            while block := handle.read(chunk):
                window = tail + block
                if name := self.secret_in(window):
                    return name
                tail = window[-(self._longest - 1) :] if self._longest > 1 else b""
        return None
