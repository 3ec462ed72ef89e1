"""Secrets: read them in notebooks, and keep their values out of everything written.

A secret is an environment variable named under ``secrets:`` in the manifest. A
notebook reads it with ``nbflow.secret("NAME")``; it never travels as a papermill
parameter, so it never reaches the injected cell or the notebook's metadata.
Whatever a notebook does with it (prints it, raises it, records it), nbflow
redacts every declared secret value, and tokens nbflow itself holds, to ``***``
before anything reaches a run folder, a commit, a notification or a log line;
URL-encoded and base64 forms of each value are redacted too. This module is
imported inside kernels: keep it free of heavy imports.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterable, Mapping
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


def _encodings(value: str) -> set[str]:
    raw = value.encode()
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms.update({encoded, encoded.rstrip("=")})
        forms.update(c for c in _embedded(encode, raw) if len(c) >= MIN_EMBEDDED_LENGTH)
    return {f for f in forms if len(f) >= MIN_LENGTH}


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
    """Replaces known secret values, and their obvious encodings, with ``***``."""

    def __init__(self, values: Iterable[str]) -> None:
        forms = set().union(*(_encodings(v) for v in values if v and len(v) >= MIN_LENGTH))
        # longest first, so a value containing another is masked whole
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def from_environment(cls, names: Iterable[str], env: Mapping[str, str]) -> Redactor:
        """A redactor for the declared secret ``names`` and the tokens nbflow holds."""
        wanted = {*names, *TOKEN_VARIABLES}
        return cls(env[name] for name in wanted if env.get(name))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        return self._pattern.sub(MASK, value) if self._pattern else value

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with every string (keys too) redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.data(v) for k, v in value.items()}
        return value
