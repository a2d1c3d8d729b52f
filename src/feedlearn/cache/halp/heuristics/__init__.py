"""Candidate heuristics for HALP, one per file; ``HEURISTICS`` names them (``halp(heuristic=NAME)``).

* ``lru`` (``lru.py``) — recency; candidates drawn from the ``tail`` least recent. The default.
* ``fifo`` (``fifo.py``, the template) — insertion order.
* ``sample`` (``sample.py``) — no order: residents drawn uniformly (LRB-style sampling).
* ``s3fifo`` (``s3fifo.py``) — S3-FIFO's next victims, with its admission.
* ``gdsf`` (``gdsf.py``) — Greedy-Dual-Size-Frequency's lowest priorities.

Adding one: a file with a :class:`~base.CandidateHeuristic` subclass (its StructRef state type and
``@njit`` hooks, see ``base.py``) and a line in ``HEURISTICS`` (or :func:`register` from elsewhere).
The functions below are what HALP calls: in compiled code each resolves, by the type of the state it is given, to that heuristic's
own hook (numba ``overload``: no integer codes, no if/elif on kinds); from Python they call the
same hook through the state's proxy class (tests drive a heuristic by hand this way).
"""

from __future__ import annotations

from typing import Any

from numba import njit
from numba.extending import overload

from feedlearn.cache.halp.heuristics.base import CandidateHeuristic, admit_all, forget_nothing, uncached
from feedlearn.cache.halp.heuristics.fifo import FIFO
from feedlearn.cache.halp.heuristics.gdsf import GDSF
from feedlearn.cache.halp.heuristics.lru import LRU
from feedlearn.cache.halp.heuristics.s3fifo import S3FIFO
from feedlearn.cache.halp.heuristics.sample import Sample
from feedlearn.cache.halp.rng import below

HEURISTICS: dict[str, type[CandidateHeuristic]] = {cls.name: cls for cls in (LRU, FIFO, Sample, S3FIFO, GDSF)}


def built_in(cls: type[CandidateHeuristic]) -> bool:
    """Defined in this package? (Code compiled for the others is not cached on disk: see ``base.uncached``.)"""
    return cls.__module__.startswith(__name__ + ".")


def register(cls: type[CandidateHeuristic]) -> type[CandidateHeuristic]:
    """Add a heuristic defined outside this package (``halp(heuristic=NAME)`` then finds it)."""
    HEURISTICS[cls.name] = cls
    return cls


def heuristic_of(state: Any) -> type[CandidateHeuristic]:
    """The heuristic class of a state: its Python proxy, or (while compiling) its numba type."""
    for cls in HEURISTICS.values():
        if type(state) in (cls.proxy, cls.state_type):
            return cls
    raise TypeError(f"not a HALP heuristic state: {type(state).__name__}")


def on_hit(hs, obj, size, i):
    """``obj`` was found in the cache at request ``i``."""
    return heuristic_of(hs).on_hit(hs, obj, size, i)


def on_insert(hs, obj, size, i):
    """``obj`` was just admitted."""
    return heuristic_of(hs).on_insert(hs, obj, size, i)


def remove(hs, obj):
    """``obj`` is evicted."""
    return heuristic_of(hs).remove(hs, obj)


def admits(hs, obj, size):
    """On every miss, before any eviction: may ``obj`` be cached?"""
    return heuristic_of(hs).admits(hs, obj, size)


def forget(hs, obj):
    """A live cache reuses ``obj``'s id: drop what the heuristic keeps about it outside the cache."""
    return heuristic_of(hs).forget(hs, obj)


def window(hs, max_len, out):
    """Up to ``max_len`` cached ids into ``out``, lowest priority first; returns how many."""
    return heuristic_of(hs).window(hs, max_len, out)


def candidates(hs, rng, k, tail, listed, out):
    """``k`` distinct ids drawn uniformly from the ``tail`` lowest priorities into ``out``, lowest first."""
    own = heuristic_of(hs).candidates
    return own(hs, rng, k, tail, listed, out) if own is not None else _from_window(hs, rng, k, tail, listed, out)


@njit(cache=True)
def _from_window(hs, rng, k, tail, listed, out):
    """The default ``candidates``: list the window, then ``k`` distinct positions of it, uniformly
    (partial Fisher-Yates on HALP's generator), in window order."""
    m = window(hs, tail, listed)
    kk = min(k, m)
    for j in range(m):
        out[j] = j
    for j in range(kk):
        r = j + below(rng, m - j)
        out[j], out[r] = out[r], out[j]
    out[:kk].sort()  # window order: position 0 is the heuristic's own choice
    for j in range(kk):
        out[j] = listed[out[j]]
    return kk


def _compiled(hs, hook: str):
    """``hs``'s heuristic's hook; for a heuristic from outside this package, this package's defaults it
    inherits become uncached twins (``base.uncached``; its own hooks are its own)."""
    cls = heuristic_of(hs)
    fn = getattr(cls, hook)
    return fn if built_in(cls) or fn not in (admit_all, forget_nothing) else uncached(fn)


@overload(on_hit)
def _on_hit(hs, obj, size, i):
    fn = _compiled(hs, "on_hit")
    return lambda hs, obj, size, i: fn(hs, obj, size, i)


@overload(on_insert)
def _on_insert(hs, obj, size, i):
    fn = _compiled(hs, "on_insert")
    return lambda hs, obj, size, i: fn(hs, obj, size, i)


@overload(remove)
def _remove(hs, obj):
    fn = _compiled(hs, "remove")
    return lambda hs, obj: fn(hs, obj)


@overload(admits)
def _admits(hs, obj, size):
    fn = _compiled(hs, "admits")
    return lambda hs, obj, size: fn(hs, obj, size)


@overload(forget)
def _forget(hs, obj):
    fn = _compiled(hs, "forget")
    return lambda hs, obj: fn(hs, obj)


@overload(window)
def _window(hs, max_len, out):
    fn = _compiled(hs, "window")
    return lambda hs, max_len, out: fn(hs, max_len, out)


@overload(candidates)
def _candidates(hs, rng, k, tail, listed, out):
    own = _compiled(hs, "candidates")
    if own is None:
        default = _from_window if built_in(heuristic_of(hs)) else uncached(_from_window)
        return lambda hs, rng, k, tail, listed, out: default(hs, rng, k, tail, listed, out)
    return lambda hs, rng, k, tail, listed, out: own(hs, rng, k, tail, listed, out)
