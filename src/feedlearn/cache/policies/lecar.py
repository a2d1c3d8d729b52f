"""LeCaR (Vietri et al., HotStorage'18): two experts, LRU and LFU, and weights learnt from regret.

Every eviction asks one expert, drawn at random with probability ``w_lru`` for LRU (least recently
used) and ``1 - w_lru`` for LFU (least frequently used, the oldest among equals); the victim's id goes
to that expert's ghost history. A later miss on an id in a history means that expert was wrong:
its weight is multiplied by ``exp(-0.45 * dr**t)``, ``t`` = requests since the eviction and
``dr = 0.005 ** (1 / capacity)``, then both are renormalised. Follows libCacheSim's ``LeCaR``
(``cache/eviction/LeCaR.c``) step for step, so miss counts match:

* When both experts name the same object it is evicted without a draw and without a history entry.
* The draw is ``(next_rand() % 100) / 100 < w_lru`` with libCacheSim's per-thread Lehmer64 generator
  (``core/lehmer.py``, shared with LHD), started as a fresh libCacheSim thread's (``seed`` 0).
* Each history is a FIFO of at most ``capacity // 2`` bytes (the oldest entries go first).
* The weights stay 0.5/0.5 with ``update_weight=False``, or start at ``lru_weight``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from feedlearn.cache.core import dlist, heap
from feedlearn.cache.core.lehmer import lehmer64_next, lehmer64_state
from feedlearn.cache.core.params import bool_param, float_param
from feedlearn.cache.core.policy import Policy, SimContext

NONE, RES, G_LRU, G_LFU = 0, 1, 2, 3  # where[o]: cached, or in one expert's history
# fv[...] (float64): weights and constants
W_LRU, W_LFU, LR, DR, UPDATE = 0, 1, 2, 3, 4
# iv[...] (int64): history bytes and their bound
G_LRU_BYTES, G_LFU_BYTES, G_CAP = 0, 1, 2


@njit(cache=True)
def _regret(fv, t, wrong, other):
    """libCacheSim's ``update_weight``: the expert at ``wrong`` loses weight (float64, same order)."""
    if fv[UPDATE] == 0.0:
        return
    r = fv[DR] ** float(t)
    fv[wrong] = fv[wrong] * math.exp(-fv[LR] * r) + 1e-10
    s = fv[wrong] + fv[other] + 2e-10
    fv[wrong] = fv[wrong] / s
    fv[other] = (fv[other] + 1e-10) / s


@njit(cache=True)
def _on_hit(state, obj, size, i):
    prev, nxt, lru, glru, glfu, h, freq, where, osize, evicted_at, fv, iv, rng = state
    dlist.move_to_head(prev, nxt, lru, obj)
    freq[obj] += 1
    heap.update(h, obj, float(freq[obj]), i)  # to the end of its new frequency's FIFO


@njit(cache=True)
def _admit(state, obj, size, i):
    """libCacheSim's ``find`` on a miss: a history hit punishes that expert; the entry goes."""
    prev, nxt, lru, glru, glfu, h, freq, where, osize, evicted_at, fv, iv, rng = state
    w = where[obj]
    if w == G_LRU:
        _regret(fv, i - evicted_at[obj], W_LRU, W_LFU)
        dlist.unlink(prev, nxt, glru, obj)
        iv[G_LRU_BYTES] -= osize[obj]
        where[obj] = NONE
    elif w == G_LFU:
        _regret(fv, i - evicted_at[obj], W_LFU, W_LRU)
        dlist.unlink(prev, nxt, glfu, obj)
        iv[G_LFU_BYTES] -= osize[obj]
        where[obj] = NONE
    return True


@njit(cache=True)
def _remember(prev, nxt, ends, where, code, osize, iv, field, o):
    """``o`` enters a history (newest first); the oldest entries go while it holds > capacity // 2."""
    dlist.push_head(prev, nxt, ends, o)
    where[o] = code
    iv[field] += osize[o]
    while iv[field] > iv[G_CAP]:
        g = dlist.pop_tail(prev, nxt, ends)
        iv[field] -= osize[g]
        where[g] = NONE


@njit(cache=True)
def _evict(state, obj, size, i):
    prev, nxt, lru, glru, glfu, h, freq, where, osize, evicted_at, fv, iv, rng = state
    lru_choice = lru[1]
    lfu_choice = heap.peek(h)
    expert = 0  # 0: both agree (no draw, no history), 1: LRU, 2: LFU
    victim = lru_choice
    if lru_choice != lfu_choice:
        r = float(lehmer64_next(rng) % np.uint64(100)) / 100.0
        if r < fv[W_LRU]:
            expert = 1
        else:
            expert = 2
            victim = lfu_choice
    dlist.unlink(prev, nxt, lru, victim)
    heap.remove(h, victim)
    where[victim] = NONE
    evicted_at[victim] = i
    if expert == 1:
        _remember(prev, nxt, glru, where, G_LRU, osize, iv, G_LRU_BYTES, victim)
    elif expert == 2:
        _remember(prev, nxt, glfu, where, G_LFU, osize, iv, G_LFU_BYTES, victim)
    return victim


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, lru, glru, glfu, h, freq, where, osize, evicted_at, fv, iv, rng = state
    osize[obj] = size
    dlist.push_head(prev, nxt, lru, obj)
    where[obj] = RES
    freq[obj] = 1
    heap.push(h, obj, 1.0, i)


@njit(cache=True)
def _forget(state, obj):
    """A live cache reuses ``obj``'s id (``store/``): drop its history entry and its bytes."""
    prev, nxt, lru, glru, glfu, h, freq, where, osize, evicted_at, fv, iv, rng = state
    if where[obj] == G_LRU:
        dlist.unlink(prev, nxt, glru, obj)
        iv[G_LRU_BYTES] -= osize[obj]
    elif where[obj] == G_LFU:
        dlist.unlink(prev, nxt, glfu, obj)
        iv[G_LFU_BYTES] -= osize[obj]
    where[obj] = NONE
    return None


class LeCaR(Policy):
    """LeCaR: LRU and LFU experts, one drawn per eviction, weights updated from ghost hits."""

    name = "lecar"
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert
    forget = _forget

    def __init__(self, *, update_weight: bool = True, lru_weight: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.update_weight = bool_param("lecar", "update_weight", update_weight)
        self.lru_weight = float_param("lecar", "lru_weight", lru_weight, 0.0, 1.0, low_open=False, high_open=False)

    def init_state(self, ctx: SimContext) -> tuple:
        n = ctx.n_objects
        fv = np.zeros(5, dtype=np.float64)
        fv[W_LRU], fv[W_LFU] = self.lru_weight, 1.0 - self.lru_weight
        fv[LR] = 0.45
        fv[DR] = 0.005 ** (1.0 / ctx.capacity)
        fv[UPDATE] = 1.0 if self.update_weight else 0.0
        iv = np.zeros(3, dtype=np.int64)
        iv[G_CAP] = ctx.capacity // 2  # each history's bytes
        prev, nxt, lru = (np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64),
                          np.array([-1, -1], dtype=np.int64))
        return (
            prev, nxt,  # shared by the cache's LRU list and both histories (an id is in one at most)
            lru,  # LRU ends: head = most recent
            np.array([-1, -1], dtype=np.int64),  # LRU expert's history (head = newest)
            np.array([-1, -1], dtype=np.int64),  # LFU expert's history
            heap.new_heap(n),  # LFU order: (frequency, request index it got that frequency)
            np.zeros(n, dtype=np.int64),  # freq: requests since insertion
            np.zeros(n, dtype=np.int8),  # where: NONE/RES/G_LRU/G_LFU
            np.zeros(n, dtype=np.int64),  # osize: bytes the object was admitted with
            np.zeros(n, dtype=np.int64),  # evicted_at: request index of the eviction
            fv,
            iv,
            lehmer64_state(ctx.seed),  # libCacheSim's generator, (hi, lo)
        )
