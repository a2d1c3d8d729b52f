"""Per-object features for learned eviction (the LRB set, NSDI'20), kept for cached and ghost objects.

For each object the metadata holds its last access time, the last ``N_GAPS`` = 32 inter-arrival
gaps (a ring, newest first when read, stored already as ``log1p(gap) / 10``), ``N_EDC`` = 10
exponentially decayed counters (EDCs), its access count, the sum of its gaps, its size and the
latest request-supplied extra features. The
feature vector of object ``o`` at time ``t`` (``N_BASE`` + extras columns, float32) is::

    [0:32]   log1p(gap_j) / 10, newest first; -1 where fewer gaps exist
    [32:42]  log1p(edc_k(t)) / 10, edc_k(t) = edc_k * 2 ** (-(t - last) / half_life_k)
    [42]     log1p(access count) / 10
    [43]     log1p(mean gap) / 10  (-1 with a single access)
    [44]     log1p(age = t - last access) / 10
    [45]     log1p(size in bytes) / 10   (0 when size features are switched off)
    [46:]    request-supplied features of the object's latest request, as given

EDC update on an access after a gap Δ (LRB): ``edc_k <- 1 + edc_k * 2 ** (-Δ / half_life_k)``, with
``half_life_k = base * 2 ** k`` — base 512 when time counts requests (LRB's 2^9..2^18), a
configurable base when time is trace seconds. Because the half-lives double, the ten decay factors
are one ``exp2`` and nine squarings: ``d_k = d_{k+1} ** 2``. The logs keep inputs O(1) for the MLP;
dividing by 10 keeps them mostly in [-0.1, 1.5].
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_GAPS = 32
N_EDC = 10
N_BASE = N_GAPS + N_EDC + 4  # 46
SCALE = np.float32(0.1)  # applied to every log1p


def new_features(n_objects: int, n_extra: int, edc_base: float) -> tuple:
    """Empty metadata for ``n_objects`` dense ids: ``(last, gaps, gap_pos, count, sum_gap, edc, size, extra, half_lives)``."""
    return (
        np.zeros(n_objects, dtype=np.float64),  # last access time
        np.zeros((n_objects, N_GAPS), dtype=np.float32),  # gap ring, as log1p(gap) * SCALE
        np.zeros(n_objects, dtype=np.int64),  # ring position of the next gap to write
        np.zeros(n_objects, dtype=np.int64),  # access count (0 = no metadata)
        np.zeros(n_objects, dtype=np.float64),  # sum of gaps
        np.zeros((n_objects, N_EDC), dtype=np.float64),  # EDCs as of the last access
        np.zeros(n_objects, dtype=np.float64),  # size in bytes of the latest request
        np.zeros((n_objects, n_extra), dtype=np.float32),  # request-supplied features
        edc_base * 2.0 ** np.arange(N_EDC, dtype=np.float64),  # half-lives, in time units
    )


@njit(cache=True, inline="always")
def record_access(feat, o, t, size, extra_row):
    """Update ``o``'s metadata for an access at time ``t`` (first access if it has none)."""
    last, gaps, gap_pos, count, sum_gap, edc, sizes, extra, half_lives = feat
    if count[o] == 0:
        for k in range(N_EDC):
            edc[o, k] = 1.0
        gap_pos[o] = 0
        sum_gap[o] = 0.0
    else:
        gap = t - last[o]
        gaps[o, gap_pos[o]] = np.float32(np.log1p(gap)) * SCALE
        gap_pos[o] = (gap_pos[o] + 1) % N_GAPS
        sum_gap[o] += gap
        d = 2.0 ** (-gap / half_lives[N_EDC - 1])
        for k in range(N_EDC - 1, -1, -1):
            edc[o, k] = 1.0 + edc[o, k] * d
            d = d * d
    count[o] += 1
    last[o] = t
    sizes[o] = size
    for j in range(extra.shape[1]):
        extra[o, j] = extra_row[j]


@njit(cache=True, inline="always")
def forget(feat, o):
    """Drop ``o``'s metadata (it left the ghost): its next access starts afresh."""
    feat[3][o] = 0


@njit(cache=True, inline="always")
def has_metadata(feat, o):
    return feat[3][o] > 0


@njit(cache=True, inline="always")
def write_vector(feat, o, t, use_size, out):
    """Write ``o``'s feature vector at time ``t`` into ``out`` (length ``N_BASE + n_extra``)."""
    last, gaps, gap_pos, count, sum_gap, edc, sizes, extra, half_lives = feat
    n = count[o]
    n_gaps = min(n - 1, N_GAPS)
    for j in range(N_GAPS):
        if j < n_gaps:
            # newest first: the slot before gap_pos is the latest gap
            out[j] = gaps[o, (gap_pos[o] - 1 - j) % N_GAPS]
        else:
            out[j] = -1.0
    age = t - last[o]
    d = 2.0 ** (-age / half_lives[N_EDC - 1])
    for k in range(N_EDC - 1, -1, -1):
        out[N_GAPS + k] = np.float32(np.log1p(edc[o, k] * d)) * SCALE
        d = d * d
    out[N_GAPS + N_EDC] = np.float32(np.log1p(n)) * SCALE
    out[N_GAPS + N_EDC + 1] = np.float32(np.log1p(sum_gap[o] / (n - 1))) * SCALE if n > 1 else -1.0
    out[N_GAPS + N_EDC + 2] = np.float32(np.log1p(age)) * SCALE
    out[N_GAPS + N_EDC + 3] = np.float32(np.log1p(sizes[o])) * SCALE if use_size else 0.0
    for j in range(extra.shape[1]):
        out[N_BASE + j] = extra[o, j]
