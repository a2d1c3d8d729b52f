"""Per-object features for learned eviction (the LRB set, NSDI'20), kept for cached and ghost objects.

For each object the metadata holds its last access time, ``N_EDC`` = 10 exponentially decayed
counters (EDCs), its access count, the sum of its gaps, its size (one float64 row of 128 bytes)
and its *static vector*: the feature vector as of its last access (age 0, EDCs undecayed), whose
first ``N_GAPS`` = 32 columns are the latest inter-arrival gaps, newest first (one float32 row of
192 bytes), plus the latest request-supplied extra features. The static vector changes only on an
access, and HALP needs it far more often than that: every label rebuilds two vectors at a past
decision time and every model update makes candidates' first layers stale (``scores.py``). Kept
ready, such a vector is a copy plus one column; rebuilt, it is 13 ``log1p`` calls, which were
the largest cost of a HALP run (measured on the 1M-request CDN trace at 1%: ~14 labels per
request). The gaps live only in the static vector (shifted by one on each access), so the two
rows together take less memory than the former gap ring in float64. The
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
AGE = N_GAPS + N_EDC + 2  # the column of log1p(age) / 10
SCALE = np.float32(0.1)  # applied to every log1p

# columns of an object's metadata row
LAST, SUM_GAP, COUNT, SIZE = 0, 1, 2, 3
EDC = 4  # EDC k (as of the last access) is column EDC + k
ROW = 16  # EDC + N_EDC = 14, padded to two 64-byte lines
STATIC_ROW = 48  # N_BASE = 46 float32 columns, padded to three 64-byte lines
SIZE_COLUMN = N_GAPS + N_EDC + 3  # the column of log1p(size) / 10
# positions in the metadata tuple (``new_features``)
METADATA, EXTRA, HALF_LIVES, STATIC = range(4)


def new_features(n_objects: int, n_extra: int, edc_base: float) -> tuple:
    """Empty metadata for ``n_objects`` dense ids: ``(rows, extra, half_lives, static)``.

    ``rows[o]`` is object ``o``'s metadata (columns ``LAST`` … ``EDC + 9``), ``count == 0`` means
    none; ``static[o]`` its vector as of its last access (size column always filled).
    """
    return (
        np.zeros((n_objects, ROW), dtype=np.float64),
        np.zeros((n_objects, n_extra), dtype=np.float32),  # request-supplied features
        edc_base * 2.0 ** np.arange(N_EDC, dtype=np.float64),  # half-lives, in time units
        np.zeros((n_objects, STATIC_ROW), dtype=np.float32),
    )


@njit(cache=True, inline="always")
def record_access(feat, o, t, size, extra_row):
    """Update ``o``'s metadata for an access at time ``t`` (first access if it has none)."""
    # indexed as (array, row), never through row views: a view costs two atomic reference counts
    rows, extra, half_lives, static = feat
    if rows[o, COUNT] <= 0:  # never seen, or forgotten
        rows[o, COUNT] = 0.0
        for k in range(N_EDC):
            rows[o, EDC + k] = 1.0
        rows[o, SUM_GAP] = 0.0
        for j in range(N_GAPS):
            static[o, j] = -1.0
    else:
        gap = t - rows[o, LAST]
        for j in range(N_GAPS - 1, 0, -1):  # newest first: shift the older gaps by one
            static[o, j] = static[o, j - 1]
        static[o, 0] = np.float32(np.log1p(gap)) * SCALE
        rows[o, SUM_GAP] += gap
        d = 2.0 ** (-gap / half_lives[N_EDC - 1])
        for k in range(N_EDC - 1, -1, -1):
            rows[o, EDC + k] = 1.0 + rows[o, EDC + k] * d
            d = d * d
    rows[o, COUNT] += 1.0
    rows[o, LAST] = t
    rows[o, SIZE] = size
    for k in range(N_EDC):
        static[o, N_GAPS + k] = np.float32(np.log1p(rows[o, EDC + k])) * SCALE
    n = rows[o, COUNT]
    static[o, N_GAPS + N_EDC] = np.float32(np.log1p(n)) * SCALE
    static[o, N_GAPS + N_EDC + 1] = np.float32(np.log1p(rows[o, SUM_GAP] / (n - 1))) * SCALE if n > 1 else -1.0
    static[o, AGE] = 0.0
    static[o, SIZE_COLUMN] = np.float32(np.log1p(size)) * SCALE
    for j in range(extra.shape[1]):
        extra[o, j] = extra_row[j]


@njit(cache=True, inline="always")
def forget(feat, o):
    """Drop ``o``'s metadata (it left the ghost): its next access starts afresh.

    The count turns negative instead of zero, so the row still describes the last access: HALP's
    pending pairs of a departed object read its features from here when the pair is labelled.
    """
    feat[METADATA][o, COUNT] = -abs(feat[METADATA][o, COUNT])


@njit(cache=True, inline="always")
def has_metadata(feat, o):
    return feat[METADATA][o, COUNT] > 0


@njit(cache=True, inline="always")
def access_count(feat, o):
    return int(max(feat[METADATA][o, COUNT], 0.0))


@njit(cache=True, inline="always")
def last_access(feat, o):
    return feat[METADATA][o, LAST]


@njit(cache=True, inline="always")
def size_of(feat, o):
    """Size in bytes of ``o``'s latest request."""
    return feat[METADATA][o, SIZE]


@njit(cache=True, inline="always")
def write_vector(feat, o, t, use_size, out):
    """Write ``o``'s feature vector at time ``t`` into ``out`` (length ``N_BASE + n_extra``)."""
    rows, extra, half_lives, static = feat
    row = rows[o]
    n = int(abs(row[COUNT]))  # negative: forgotten, but the row is still the last access's
    for j in range(N_GAPS):
        out[j] = static[o, j]
    age = t - row[LAST]
    d = 2.0 ** (-age / half_lives[N_EDC - 1])
    for k in range(N_EDC - 1, -1, -1):
        out[N_GAPS + k] = np.float32(np.log1p(row[EDC + k] * d)) * SCALE
        d = d * d
    out[N_GAPS + N_EDC] = np.float32(np.log1p(n)) * SCALE
    out[N_GAPS + N_EDC + 1] = np.float32(np.log1p(row[SUM_GAP] / (n - 1))) * SCALE if n > 1 else -1.0
    out[N_GAPS + N_EDC + 2] = np.float32(np.log1p(age)) * SCALE
    out[N_GAPS + N_EDC + 3] = np.float32(np.log1p(row[SIZE])) * SCALE if use_size else 0.0
    for j in range(extra.shape[1]):
        out[N_BASE + j] = extra[o, j]


@njit(cache=True, inline="always")
def write_static(feat, o, use_size, out):
    """``o``'s vector as of its last access (age 0, EDCs undecayed): what only an access changes.

    HALP's vector at time ``t`` is this one with column ``AGE`` set to :func:`age_feature` — so a
    candidate's score is its cached first layer plus one column (``halp/scores.py``). It is kept
    ready by ``record_access``: a copy, no arithmetic.
    """
    static_into(feat[EXTRA], feat[STATIC], o, use_size, out)


@njit(cache=True, inline="always")
def static_into(extra, static, o, use_size, out):
    """:func:`write_static` from the unpacked arrays (for loops: numba takes an atomic reference
    count per array each time a tuple of arrays is passed, even to an inlined function)."""
    for j in range(N_BASE):
        out[j] = static[o, j]
    if not use_size:
        out[SIZE_COLUMN] = 0.0
    for j in range(extra.shape[1]):
        out[N_BASE + j] = extra[o, j]


@njit(cache=True, inline="always")
def age_feature(feat, o, t):
    """Column ``AGE`` of ``o``'s vector at time ``t``."""
    return np.float32(np.log1p(t - feat[METADATA][o, LAST])) * SCALE


@njit(cache=True, inline="always")
def write_halp(feat, o, t, use_size, out):
    """HALP's vector of ``o`` at time ``t``: the static vector with the age at ``t``."""
    write_static(feat, o, use_size, out)
    out[AGE] = age_feature(feat, o, t)


@njit(cache=True, inline="always")
def halp_into(rows, extra, static, o, t, use_size, out, r):
    """:func:`write_halp` into row ``r`` of the 2-d ``out``, from the unpacked metadata arrays.

    :func:`static_into` by element, not through ``out[r]``: a row view costs two more atomic
    reference counts, twice per kept label.
    """
    for j in range(N_BASE):
        out[r, j] = static[o, j]
    if not use_size:
        out[r, SIZE_COLUMN] = 0.0
    for j in range(extra.shape[1]):
        out[r, N_BASE + j] = extra[o, j]
    out[r, AGE] = np.float32(np.log1p(t - rows[o, LAST])) * SCALE
