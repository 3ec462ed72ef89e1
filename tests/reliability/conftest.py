"""Fixtures for the reliability tests: the webhook receiver lives in tests/conftest.py."""

from __future__ import annotations

from tests.helpers import Receiver

__all__ = ["Receiver"]
