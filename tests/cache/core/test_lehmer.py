"""libCacheSim's generator: the draws a fresh libCacheSim thread makes (LHD and LeCaR rely on them)."""

from __future__ import annotations

import numpy as np

from feedlearn.cache.core.lehmer import lehmer64_next, lehmer64_state


def test_first_draws_of_a_fresh_thread():
    # LeCaR's first four expert draws, next_rand() % 100 (test_lecar.py's hand-worked trace uses them)
    rng = lehmer64_state(0)
    assert [int(lehmer64_next(rng) % np.uint64(100)) for _ in range(4)] == [97, 82, 21, 32]
    assert lehmer64_state(3).tolist() == [0, 0xDEADBEEF + 6]
