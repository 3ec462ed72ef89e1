"""The YAML constructor manifests are read with: a scalar YAML gives a type (by its
look, ``2024-02-30``, or by a tag, ``!!int x``) but that cannot be built as one is
built as its text and remembered, so reading goes on (see ``unbuilt.py``, which
reports them, and ``document.py``, which reads with this constructor).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

__all__ = ["BUILD_ERRORS", "Unbuilt", "constructor_class"]

#: What building a scalar may raise besides ruamel's own (located) errors.
BUILD_ERRORS = (ValueError, TypeError, ArithmeticError, LookupError, AttributeError)


@dataclass(frozen=True)
class Unbuilt:
    """A scalar node that could not be built as the type its tag names."""

    node: Any  # ruamel ScalarNode
    error: Exception


@functools.cache
def constructor_class() -> type[Any]:
    """ruamel's round-trip constructor, building an unbuildable scalar as its text and
    listing it in ``unbuilt``."""
    from ruamel.yaml.constructor import RoundTripConstructor
    from ruamel.yaml.nodes import ScalarNode

    class ManifestConstructor(RoundTripConstructor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.unbuilt: list[Unbuilt] = []

        def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
            try:
                return super().construct_non_recursive_object(node, tag)
            except BUILD_ERRORS as exc:
                if not isinstance(node, ScalarNode) or not isinstance(node.value, str):
                    raise
                self.unbuilt.append(Unbuilt(node, exc))
                return node.value

    return ManifestConstructor
