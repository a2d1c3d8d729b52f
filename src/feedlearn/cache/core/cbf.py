"""libCacheSim's counting Bloom filter (``dataStructure/minimalIncrementCBF.c``), as W-TinyLFU uses it.

The filter has ``counters`` 32-bit counters and ``k`` hash positions per key,
``x_j = (a + j * b) mod counters`` in unsigned 32-bit arithmetic, where ``a`` and ``b`` are the low
32 bits of XXH64 of the key's 8 bytes under two seeds. Sized for ``entries`` keys at a 0.001 error
rate: ``k = 10`` and ~14.4 counters per entry, so a cache of 200 MB (entries = bytes, as libCacheSim
passes them) asks for up to 2**31 - 1 counters. Only the positions of keys that are ever seen can
be non-zero, so here each object's ``k`` positions are computed once (numpy, at ``init_state``) and
renumbered densely: the counters live in an array of at most ``k * n_objects`` entries and the
estimates are the same numbers.

Quirks kept: ``add`` increments *every* position (not only the minimal ones, whatever the name
says) and returns nothing used; ``decay`` halves every counter.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SEED0, SEED1 = 0x12345678, 0x12344321  # libCacheSim's HASH_SEED0 / HASH_SEED1
ERROR = 0.001
INT_MAX = 2**31 - 1

_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def xxh64_u64(keys: np.ndarray, seed: int) -> np.ndarray:
    """XXH64 of each key's 8 little-endian bytes (the short-input path of the reference code)."""
    with np.errstate(over="ignore"):
        k = np.asarray(keys, dtype=np.uint64)
        h = np.full(k.shape, np.uint64(seed), dtype=np.uint64) + _P5 + np.uint64(8)
        k1 = _rotl(k * _P2, 31) * _P1
        h = _rotl(h ^ k1, 27) * _P1 + _P4
        h ^= h >> np.uint64(33)
        h *= _P2
        h ^= h >> np.uint64(29)
        h *= _P3
        h ^= h >> np.uint64(32)
    return h


def shape(entries: int) -> tuple[int, int]:
    """(hash positions per key, counters) for ``entries``, computed as libCacheSim does."""
    entries = (entries + 2**31) % 2**32 - 2**31  # libCacheSim passes an int64 size as a C int
    bpe = -math.log(ERROR) / 0.480453013918201  # ln(2)^2
    k = math.ceil(0.693147180559945 * bpe)
    counters = int(min(math.ceil(bpe * entries), INT_MAX))
    if counters < k:
        counters = 2 * k
    return k, counters


def positions(keys: np.ndarray, entries: int) -> tuple[np.ndarray, np.ndarray]:
    """Each key's counter positions renumbered densely, (n, k) int32, and the distinct positions
    they stand for (sorted uint32): counter ``c`` here is libCacheSim's counter ``distinct[c]``."""
    k, counters = shape(entries)
    a = (xxh64_u64(keys, SEED0) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    b = (xxh64_u64(keys, SEED1) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    j = np.arange(k, dtype=np.uint32)
    with np.errstate(over="ignore"):
        x = (a[:, None] + j[None, :] * b[:, None]) % np.uint32(counters)  # uint32 wrap-around, as in C
    distinct, dense = np.unique(x, return_inverse=True)
    return dense.reshape(x.shape).astype(np.int32), distinct


@njit(cache=True, inline="always")
def estimate(pos, counts, o):
    """The smallest of ``o``'s counters."""
    m = counts[pos[o, 0]]
    for j in range(1, pos.shape[1]):
        m = min(m, counts[pos[o, j]])
    return m


@njit(cache=True, inline="always")
def add(pos, counts, o):
    """Count one more occurrence of ``o`` (every position, as libCacheSim's ``add``)."""
    for j in range(pos.shape[1]):
        counts[pos[o, j]] += 1


@njit(cache=True)
def decay(counts):
    """Halve every counter (libCacheSim's ``decay``)."""
    for c in range(len(counts)):
        counts[c] >>= 1
