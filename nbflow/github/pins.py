"""The actions generated files use, pinned to full commit SHAs, and pins bumped since.

Design decisions (docs/github.md, "Action pins", explains them to users):

- Each action is pinned to a commit SHA with its release tag in a comment
  (``actions/checkout@3d3c42e… # v7.0.1``), GitHub's hardening advice: a moved tag
  cannot change what runs. The SHAs below were read from the actions' own
  repositories (the tag's commit), and are updated with nbflow releases.
- Dependabot (``package-ecosystem: github-actions``) bumps such a pin in place: a
  newer SHA and the new tag in the comment. A generated file whose only differences
  are such bumps (same action, a newer version in the comment) is not stale:
  ``nbflow ci generate`` keeps the newer pins, and ``nbflow ci check`` names them.
  A pin to an older version, or a different SHA under the same version, is a
  change nbflow cannot vouch for, and the file is stale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Pin", "PINS", "bumped_pins", "read_pins"]


@dataclass(frozen=True)
class Pin:
    action: str  # owner/name
    sha: str  # the full commit SHA
    version: str  # the release tag, e.g. v7.0.1

    @property
    def version_key(self) -> tuple[int, ...] | None:
        """The tag as numbers (``v7.0.1`` → ``(7, 0, 1)``); None when it is not one."""
        match = re.fullmatch(r"v?(\d+(?:\.\d+)*)", self.version)
        return tuple(int(part) for part in match[1].split(".")) if match else None

    def is_newer_than(self, other: Pin) -> bool:
        """Same action, a later version and another commit: what Dependabot writes."""
        mine, theirs = self.version_key, other.version_key
        return (
            self.action == other.action
            and self.sha != other.sha
            and mine is not None
            and theirs is not None
            and mine > theirs
        )


CHECKOUT = Pin("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1")
SETUP_PYTHON = Pin("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0")
SETUP_UV = Pin("astral-sh/setup-uv", "20cfd1bf945f4377ade1205e4dbc17946fc9a30d", "v10.0.1")
UPLOAD = Pin("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0")
DOWNLOAD = Pin("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1")
PINS = {pin.action: pin for pin in (CHECKOUT, SETUP_PYTHON, SETUP_UV, UPLOAD, DOWNLOAD)}

_USES = re.compile(
    r"^\s*(?:-\s+)?uses:\s*(?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40})\s+#\s*(?P<version>\S+)\s*$",
    re.M,
)


def read_pins(text: str) -> dict[str, Pin]:
    """The pinned actions of a workflow file's text, by action (the last one wins)."""
    return {m["action"]: Pin(m["action"], m["sha"], m["version"]) for m in _USES.finditer(text)}


def bumped_pins(existing: str, pins: Mapping[str, Pin] = PINS) -> dict[str, Pin]:
    """``pins``, each replaced by the existing file's pin of the same action when that
    one is newer (a Dependabot bump)."""
    found = read_pins(existing)
    return {
        action: found[action] if action in found and found[action].is_newer_than(pin) else pin
        for action, pin in pins.items()
    }
