"""LHD — Least Hit Density (Beckmann, Chen, Cidon, NSDI'18): evict the lowest expected hits per byte·time.

Model. Time is counted in cache accesses (hits and admissions), and an object's *age* is the time
since its last access, coarsened by ``>> age_shift`` and capped at ``MAX_AGE``. Objects fall into
classes by the sum of their last two hit ages (log-scaled, ``HIT_AGE_CLASSES`` classes; all of a
trace's requests are one application, as libCacheSim's ``DEFAULT_APP_ID``). Per class and age the
policy counts hits (an access at that age) and evictions (evicted at that age). Every
``reconfig_interval`` accesses the counts decay by ``EWMA_DECAY`` and each class's *hit density*
is rebuilt by a backward recursion over ages (:func:`model_hit_density`): for an object now at age
``a``, hit probability / expected remaining lifetime = (hits at ages >= a) / (sum over later ages of
the events still to come). Until the first reconfiguration the densities are libCacheSim's
GDSF-like prior ``(16 * APP_ID + class + 1) / (age + 1)``.

Eviction. ``rank`` samples random residents (8 until 50 reconfigurations have passed, then
``associativity``) plus the last ``admissions`` newcomers whose density looked below the recent
victims' average, and evicts the lowest ``density / size``. Residents live in a dense array kept
with swap-remove, so a uniform sample is one random index. A few newcomers (1 in 32 while the budget
of 1% of the cache lasts, first 50 reconfigurations only) become *explorers* whose density gets +1,
so the model also sees long reuse distances. The age coarsening adapts to the number of resident
objects at the 6th and 26th reconfiguration.

Parameters and arithmetic follow libCacheSim's ``LHD`` (``LHD/lhd.cpp``, ``lhd.hpp``,
``LHD_Interface.cpp``) exactly: associativity 32 (the paper suggests 64; libCacheSim uses 32, and
it only matters after 51 reconfigurations = 53.5M accesses), 8 admissions, ``MAX_AGE`` 20000, initial
``age_shift`` 10, ``reconfig_interval`` 2**20, EWMA decay 0.9, explorer budget 1% and odds 1/32,
float32 densities and counters with the same operation order. Randomness is libCacheSim's own
Lehmer64 generator (``next_rand``), started at ``0xdeadbeef + 2 * seed``: with seed 0 and the same
draws in the same order this reproduces libCacheSim run in a fresh thread (its generator state is
per thread and never reset, so a second run in the same thread draws different numbers). That
gives the same hits as libCacheSim request by request: on the shipped traces at 1% and 10% and on a
2.3M-request trace spanning two reconfigurations (``tests/cache/policies/test_lhd.py``), and, checked
once by hand, on 7M-8M-request traces (age re-coarsening both ways) and a 56M-request one (53
reconfigurations, so ``associativity`` sampling too). Speed ~2M requests/s (memory-bound sampling).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core.lehmer import lehmer64_next, lehmer64_state
from feedlearn.cache.core.params import MAX_SCALAR, int_param
from feedlearn.cache.core.policy import Policy, SimContext

MAX_AGE = 20000  # coarsened ages 0..MAX_AGE-1; the last one means "too old" (density = lowest)
HIT_AGE_CLASSES = 16  # classes by log2 of (last hit age + the one before)
APP_ID = 1  # libCacheSim's DEFAULT_APP_ID: class c's prior density uses (APP_ID * 16 + c + 1)
EXPLORE_INVERSE_PROBABILITY = 32  # 1 in 32 admissions may become an explorer
EXPLORER_BUDGET_FRACTION = np.float32(0.01)  # of the cache's bytes
EWMA_DECAY = 0.9  # applied as float32: counters per reconfiguration, victim-density average
INITIAL_AGE_SHIFT = 10
FEW_CANDIDATES = 8  # random samples per eviction before 50 reconfigurations
FLOAT32_MAX = np.float32(3.4028234663852886e38)

# the state tuple
TAGS, POS, META, HITS, EVICTS, DENS, RECENT, IV, FV, RNG = range(10)
# columns of META, one 32-byte row per *resident*, in TAGS order (moved along on swap-remove) so a
# sampled candidate costs one cache line: last access time (accesses), last hit age (coarsened),
# class, size (bytes) * 2 + explorer flag
TS, LAST_HIT, CLS, SIZEX = range(4)
# int64 scalars in state[IV]
TIMESTAMP, NEXT_RECONF, N_RECONF, AGE_SHIFT, BUDGET, RA_HEAD, N_TAGS, ASSOC, ADMIT, INTERVAL = range(10)
# float32 scalars in state[FV]
EWMA_VICTIM, EWMA_NOBJ, EWMA_MASS = range(3)


@njit(cache=True)
def hit_age_class(age):
    """About ``log2(MAX_AGE / age)``, in ``0..HIT_AGE_CLASSES-1``; age 0 (never hit twice) is the last."""
    if age == 0:
        return HIT_AGE_CLASSES - 1
    log = 0
    while age < MAX_AGE and log < HIT_AGE_CLASSES - 1:
        age <<= 1
        log += 1
    return log


@njit(cache=True)
def model_hit_density(hits, evictions, density):
    """Rebuild one class's ``density[a]`` (a < MAX_AGE-1) from its per-age event counts (float32).

    Going from the oldest age down, ``total_hits`` = hits at ages >= a, ``total_events`` = events
    (hits + evictions) at ages >= a, and ``lifetime`` accumulates ``total_events`` once per age step,
    i.e. sum over events at ages >= a of (event age - a + 1) — the expected remaining lifetime mass.
    Hit density = expected hits / expected lifetime; 0 where (almost) nothing was seen.
    """
    n = len(hits)
    total_events = hits[n - 1] + evictions[n - 1]
    total_hits = hits[n - 1]
    lifetime = total_events
    for a in range(n - 2, -1, -1):
        total_hits += hits[a]
        total_events += hits[a] + evictions[a]
        lifetime += total_events
        if total_events > 1e-5:
            density[a] = total_hits / lifetime
        else:
            density[a] = np.float32(0.0)


@njit(cache=True)
def _age(meta, iv, k):
    """Coarsened age of the resident in row ``k``, capped at MAX_AGE - 1."""
    age = (iv[TIMESTAMP] - meta[k, TS]) >> iv[AGE_SHIFT]
    return MAX_AGE - 1 if age >= MAX_AGE else age


@njit(cache=True)
def _hit_density(meta, density, iv, k):
    """Hit density per byte of the resident in row ``k`` (float32), as libCacheSim's ``getHitDensity``."""
    age = _age(meta, iv, k)
    if age == MAX_AGE - 1:
        return -FLOAT32_MAX
    sizex = meta[k, SIZEX]
    d = density[meta[k, CLS], age] / np.float32(sizex >> 1)
    if sizex & 1:  # explorer
        d = np.float32(np.float64(d) + 1.0)
    return d


@njit(cache=True)
def _rank(state):
    """The victim's row in TAGS: lowest density among random samples and recent low-density newcomers."""
    pos, meta, density = state[POS], state[META], state[DENS]
    recent, iv, fv, rng = state[RECENT], state[IV], state[FV], state[RNG]
    candidates = iv[ASSOC] if iv[N_RECONF] > 50 else FEW_CANDIDATES
    n = np.uint64(iv[N_TAGS])
    victim = -1
    victim_rank = FLOAT32_MAX
    for _ in range(candidates):
        idx = np.int64(lehmer64_next(rng) % n)
        r = _hit_density(meta, density, iv, idx)
        if r < victim_rank:
            victim = idx
            victim_rank = r
    for k in range(iv[ADMIT]):
        o = recent[k]
        if o < 0 or pos[o] < 0:
            continue
        r = _hit_density(meta, density, iv, pos[o])
        if r < victim_rank:
            victim = pos[o]
            victim_rank = r
    decay = np.float32(EWMA_DECAY)
    fv[EWMA_VICTIM] = decay * fv[EWMA_VICTIM] + (np.float32(1.0) - decay) * victim_rank
    return victim


@njit(cache=True)
def _update(state, o, size, insert):
    """An access to ``o`` (a hit, or its admission): record the hit, reset its age, maybe explore."""
    tags, pos, meta, hits, density = state[TAGS], state[POS], state[META], state[HITS], state[DENS]
    recent, iv, fv, rng = state[RECENT], state[IV], state[FV], state[RNG]
    if insert:
        k = iv[N_TAGS]
        tags[k] = o
        pos[o] = k
        iv[N_TAGS] = k + 1
        meta[k, LAST_HIT] = 0
        meta[k, CLS] = hit_age_class(0 + MAX_AGE)  # the hit age before the last one: MAX_AGE
    else:
        k = pos[o]
        age = _age(meta, iv, k)
        hits[meta[k, CLS], age] += np.float32(1.0)
        if meta[k, SIZEX] & 1:  # an explorer returns its budget
            iv[BUDGET] = np.int64(np.float32(iv[BUDGET]) + np.float32(meta[k, SIZEX] >> 1))
        meta[k, CLS] = hit_age_class(age + meta[k, LAST_HIT])
        meta[k, LAST_HIT] = age
    meta[k, TS] = iv[TIMESTAMP]
    explore = lehmer64_next(rng) % np.uint64(EXPLORE_INVERSE_PROBABILITY) == 0
    if explore and iv[BUDGET] > 0 and iv[N_RECONF] < 50:
        meta[k, SIZEX] = size * 2 + 1
        iv[BUDGET] = np.int64(np.float32(iv[BUDGET]) - np.float32(size))
    else:
        meta[k, SIZEX] = size * 2
    if insert and not explore and _hit_density(meta, density, iv, k) < fv[EWMA_VICTIM]:
        recent[iv[RA_HEAD] % iv[ADMIT]] = o
        iv[RA_HEAD] += 1
    iv[TIMESTAMP] += 1
    iv[NEXT_RECONF] -= 1
    if iv[NEXT_RECONF] == 0:
        _reconfigure(state)
        iv[NEXT_RECONF] = iv[INTERVAL]
        iv[N_RECONF] += 1


@njit(cache=True)
def _reconfigure(state):
    """Decay the counters, maybe re-coarsen ages, then rebuild every class's hit densities."""
    hits, evictions, density = state[HITS], state[EVICTS], state[DENS]
    decay = np.float32(EWMA_DECAY)
    for c in range(HIT_AGE_CLASSES):
        for a in range(MAX_AGE):
            hits[c, a] *= decay
            evictions[c, a] *= decay
    _adapt_age_coarsening(state)
    for c in range(HIT_AGE_CLASSES):
        model_hit_density(hits[c], evictions[c], density[c])


@njit(cache=True)
def _adapt_age_coarsening(state):
    """At the 6th and 26th reconfiguration, pick ``age_shift`` so ages span ~100x the object count."""
    hits, evictions, iv, fv = state[HITS], state[EVICTS], state[IV], state[FV]
    decay = np.float32(EWMA_DECAY)
    fv[EWMA_NOBJ] *= decay
    fv[EWMA_MASS] *= decay
    fv[EWMA_NOBJ] += np.float32(iv[N_TAGS])
    fv[EWMA_MASS] = np.float32(np.float64(fv[EWMA_MASS]) + 1.0)
    n_objects = fv[EWMA_NOBJ] / fv[EWMA_MASS]
    optimal = np.float32(np.float64(n_objects) / np.float64(np.float32(0.01) * np.float32(MAX_AGE)))
    if iv[N_RECONF] != 5 and iv[N_RECONF] != 25:
        return
    log2 = 1
    while np.float32(1 << log2) < optimal:
        log2 += 1
    delta = log2 - iv[AGE_SHIFT]
    iv[AGE_SHIFT] = log2
    fv[EWMA_NOBJ] *= np.float32(8.0)
    fv[EWMA_MASS] *= np.float32(8.0)
    for c in range(HIT_AGE_CLASSES):
        h, e = hits[c], evictions[c]
        if delta < 0:  # finer ages: fold the tail into the last age, stretch the rest
            d = -delta
            for a in range(MAX_AGE >> d, MAX_AGE - 1):
                h[MAX_AGE - 1] += h[a]
                e[MAX_AGE - 1] += e[a]
            scale = np.float32(1 << d)
            for a in range(MAX_AGE - 2, -1, -1):
                h[a] = h[a >> d] / scale
                e[a] = e[a >> d] / scale
        elif delta > 0:  # coarser ages: merge 2**delta ages into one
            for a in range(MAX_AGE >> delta):
                h[a] = h[a << delta]
                e[a] = e[a << delta]
                for k in range(1, 1 << delta):
                    h[a] += h[(a << delta) + k]
                    e[a] += e[(a << delta) + k]
            for a in range(MAX_AGE >> delta, MAX_AGE - 1):
                h[a] = np.float32(0.0)
                e[a] = np.float32(0.0)


@njit(cache=True)
def _on_hit(state, obj, size, i):
    _update(state, obj, size, False)


@njit(cache=True)
def _evict(state, obj, size, i):
    tags, pos, meta, evictions, iv = state[TAGS], state[POS], state[META], state[EVICTS], state[IV]
    k = _rank(state)
    victim = tags[k]
    evictions[meta[k, CLS], _age(meta, iv, k)] += np.float32(1.0)
    if meta[k, SIZEX] & 1:  # an explorer returns its budget
        iv[BUDGET] = np.int64(np.float32(iv[BUDGET]) + np.float32(meta[k, SIZEX] >> 1))
    # swap-remove: the last resident (id and META row) takes the victim's place
    last = iv[N_TAGS] - 1
    moved = tags[last]
    tags[k] = moved
    pos[moved] = k
    for c in range(4):
        meta[k, c] = meta[last, c]
    pos[victim] = -1
    iv[N_TAGS] = last
    return victim


@njit(cache=True)
def _on_insert(state, obj, size, i):
    _update(state, obj, size, True)


@njit(cache=True)
def _forget(state, obj):
    """A live cache reuses ``obj``'s id: drop it from the ring of recent newcomers."""
    recent = state[RECENT]
    for k in range(len(recent)):
        if recent[k] == obj:
            recent[k] = -1
    return None


class LHD(Policy):
    """Least Hit Density with libCacheSim's parameters and random number generator."""

    name = "lhd"
    on_hit = _on_hit
    evict = _evict
    on_insert = _on_insert
    forget = _forget

    def __init__(self, *, associativity: int = 32, admissions: int = 8, reconfig_interval: int = 1 << 20,
                 seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.associativity = int_param("lhd", "associativity", associativity)  # samples per eviction
        self.admissions = int_param("lhd", "admissions", admissions)  # sizes the ring of recent newcomers
        self.reconfig_interval = int_param("lhd", "reconfig_interval", reconfig_interval, 1, MAX_SCALAR)

    def init_state(self, ctx: SimContext) -> tuple:
        n = ctx.n_objects
        ages = np.arange(MAX_AGE, dtype=np.float64)
        prior = np.array([(APP_ID * HIT_AGE_CLASSES + c + 1) / (ages + 1) for c in range(HIT_AGE_CLASSES)])
        iv = np.zeros(10, dtype=np.int64)
        iv[NEXT_RECONF] = iv[INTERVAL] = self.reconfig_interval
        iv[AGE_SHIFT] = INITIAL_AGE_SHIFT
        iv[BUDGET] = int(np.float32(ctx.capacity) * EXPLORER_BUDGET_FRACTION)  # bytes
        iv[ASSOC] = self.associativity
        iv[ADMIT] = self.admissions
        rng = lehmer64_state(ctx.seed)
        return (
            np.zeros(n, dtype=np.int64),  # TAGS: resident ids, dense (swap-remove)
            np.full(n, -1, dtype=np.int64),  # POS: index in TAGS, -1 if not resident
            np.zeros((n, 4), dtype=np.int64),  # META: TS, LAST_HIT, CLS, SIZEX per resident row
            np.zeros((HIT_AGE_CLASSES, MAX_AGE), dtype=np.float32),  # HITS per class and age
            np.zeros((HIT_AGE_CLASSES, MAX_AGE), dtype=np.float32),  # EVICTS per class and age
            prior.astype(np.float32),  # DENS: hit density per class and age
            np.full(self.admissions, -1, dtype=np.int64),  # RECENT: ring of low-density newcomers
            iv,  # IV: int64 scalars
            np.zeros(3, dtype=np.float32),  # FV: float32 scalars
            rng,  # RNG: Lehmer64 state
        )
