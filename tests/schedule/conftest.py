"""A small scheduled workflow for the tick tests (helpers.daily_workflow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import daily_workflow


@pytest.fixture
def daily(project: Path) -> Path:
    return daily_workflow(project)
