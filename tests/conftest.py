"""Shared fixtures. Every test is isolated from the user's configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from github_stub import GitHubStub


@pytest.fixture(autouse=True)
def _isolate_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME and GIT_CONFIG_GLOBAL point into tmp_path: no test reads your config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def github_stub() -> Iterator[GitHubStub]:
    """A local stand-in for the GitHub API; point GitHubSettings.api_url at its url.
    Every reply a test scripts must be asked for."""
    stub = GitHubStub().start()
    yield stub
    stub.stop()
    assert stub.unused == [], "scripted replies never requested"
