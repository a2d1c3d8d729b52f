"""Shared test fixtures: paths to the shipped data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "data" / "traces"


@pytest.fixture
def traces_dir() -> Path:
    return TRACES
