"""Shared test fixtures: paths to the shipped data."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedlearn.shipped import folder

TRACES = folder("traces")


@pytest.fixture
def traces_dir() -> Path:
    return TRACES
