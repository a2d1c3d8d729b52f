"""libCacheSim's random generator (``next_rand``, a per-thread Lehmer64), for policies that draw
as libCacheSim does (LHD's samples, LeCaR's expert): same seed, same draws, so same miss counts."""

from __future__ import annotations

import numpy as np
from numba import njit


def lehmer64_state(seed: int) -> np.ndarray:
    """The starting state ``(hi, lo) = (0, 0xdeadbeef + 2 * seed)``; seed 0 is a fresh libCacheSim thread's."""
    return np.array([0, (0xDEADBEEF + 2 * seed) % (1 << 64)], dtype=np.uint64)


@njit(cache=True)
def lehmer64_next(rng):
    """libCacheSim's ``next_rand``: 128-bit state ``(hi, lo)`` times a 64-bit constant; returns ``hi``."""
    c = np.uint64(0xDA942042E4DD58B5)
    mask = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    hi, lo = rng[0], rng[1]
    # high 64 bits of lo * c, from 32-bit halves
    a_lo, a_hi = lo & mask, lo >> s32
    b_lo, b_hi = c & mask, c >> s32
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> s32) + (p1 & mask) + (p2 & mask)
    carry = p3 + (p1 >> s32) + (p2 >> s32) + (mid >> s32)
    rng[0] = hi * c + carry
    rng[1] = lo * c
    return rng[0]
