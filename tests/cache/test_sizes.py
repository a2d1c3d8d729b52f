"""Cache size spellings."""

from __future__ import annotations

import pytest

from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.common.errors import FeedlearnError

WSS = 2_029_769_728  # cloudPhysicsIO unique bytes


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1%", 20_297_697),  # libCacheSim: int(0.01 * wss), see shipped/traces/README.md
        ("10%", 202_976_972),
        ("0.1", 202_976_972),
        (0.1, 202_976_972),
        ("64MiB", 64 * 2**20),
        ("64M", 64 * 2**20),
        ("10GB", 10 * 10**9),
        ("1.5KB", 1500),
        ("4096", 4096),
        (4096, 4096),
        ("100%", WSS),
    ],
)
def test_sizes(spec, expected):
    assert resolve_cache_size(spec, WSS) == expected


@pytest.mark.parametrize("spec", ["", "abc", "10XB", "0%", "150%", "-1", "0B"])
def test_bad_sizes(spec):
    with pytest.raises(FeedlearnError, match="cache size"):
        resolve_cache_size(spec, WSS)
