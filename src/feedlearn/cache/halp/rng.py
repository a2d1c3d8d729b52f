"""A tiny seeded generator for compiled code (xorshift64*): one state per policy instance.

numba's ``np.random`` has one hidden global state per thread, so two policies (or two runs) would
share it; an explicit state array keeps every run reproducible from its own seed.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def new_rng(seed: int) -> np.ndarray:
    """State for :func:`next_u64`; any seed (the state is never zero)."""
    mixed = (int(seed) * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) % 2**64
    return np.array([mixed or 1], dtype=np.uint64)


@njit(cache=True)
def next_u64(state):
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return x * np.uint64(0x2545F4914F6CDD1D)


@njit(cache=True)
def below(state, n):
    """A uniform integer in ``[0, n)`` (``n`` > 0; modulo bias is below 2**-40 for our sizes)."""
    return np.int64(next_u64(state) % np.uint64(n))
