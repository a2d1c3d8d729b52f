"""The eviction-policy extension point: state arrays plus numba hooks.

A policy is a small class (see ``lru.py``, the template) that

* builds its state — a tuple of numpy arrays indexed by *dense object ids* ``0..n_objects-1`` — in
  :meth:`Policy.init_state`, and
* names three ``@njit`` functions that the simulator's single access loop calls:

  - ``on_hit(state, obj, size, i)`` — ``obj`` was found in the cache at request ``i``;
  - ``admit(state, obj, size, i) -> bool`` — optional (the default admits everything): called
    first on every miss, even for objects larger than the cache (the place for per-miss work such
    as ghost lookups); ``False`` means ``obj`` is not inserted and nothing is evicted for it;
  - ``evict(state, obj, size, i) -> victim`` — room is needed for the missed ``obj``: remove one
    resident object from the policy's structures and return its id (called until ``obj`` fits);
    returning ``obj`` itself drops the newcomer instead (not inserted; earlier evictions stand);
  - ``on_insert(state, obj, size, i)`` — ``obj`` has just been admitted.

The loop itself (``simulator.access_loop``) owns residency and byte accounting, so a policy never
tracks capacity unless its algorithm needs it (ARC's target, S3-FIFO's queue sizes).

A policy that evicts on its own — at a hit, while admitting, or more than one object per ``evict``
call, as libCacheSim's composite policies do (2Q's LRU part, LIRS's stacks) — removes those objects
from its structures, parks them, and hands them out through ``parked(state) -> victim`` (njit, -1
when none left): the loop drains it after every hook, so they leave the cache at once, in the order
parked. The default parks nothing.

Optional extras: ``forget(state, obj)`` (njit) drops everything the policy remembers about a
non-resident ``obj`` (ghost entries, metadata) so that a live cache (``store.py``) can reuse the
dense id for another key; ``between_chunks(state, next_request)`` (plain Python), called by the
simulator after every chunk of requests, for work that cannot run inside compiled code, such as
retraining a model with a Python library (``chunk`` sets how many requests a chunk holds); and
``on_chunk(state, chunk)`` (plain Python), for the few policies that read per-request arrays
(Belady's next requests, HALP's trace times, request-supplied features): a streamed replay
(``streaming.py``) hands them each chunk's arrays, which the hooks index by ``i - chunk.start``.

Why numba and dense ids: a pure-Python dict/linked-list policy runs at 1–2 M requests/s at best;
compiled hooks over flat arrays, with ids remapped once by ``np.unique``, run at tens of millions.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numba import njit


@dataclass(frozen=True)
class SimContext:
    """Everything a policy may look at when it builds its state.

    ``next_access`` is only filled for policies with ``needs_future = True`` (Belady): for request
    ``i`` it is the index of the next request to the same object, or ``n_requests`` if none.
    """

    n_objects: int
    capacity: int  # bytes, or objects in unit-size mode
    obj: np.ndarray  # (n,) int64 dense ids
    size: np.ndarray  # (n,) int64
    time: np.ndarray  # (n,) float64
    next_access: np.ndarray | None  # (n,) int64
    seed: int
    features: np.ndarray | None = None  # (n, m) float32 request-supplied features, if the trace has any
    obj_ids: np.ndarray | None = None  # (n_objects,) uint64 the trace's id of each dense id (needs_obj_ids)
    # Whole-trace figures for a streamed replay, whose per-request arrays above are empty
    # placeholders (their columns still give the feature count); None: computed from the arrays.
    n_requests: int | None = None
    total_bytes: int | None = None  # sum of the requests' sizes
    min_size: int | None = None

    def requests(self) -> int:
        """Requests in the whole trace."""
        return len(self.obj) if self.n_requests is None else self.n_requests

    def mean_size(self) -> float:
        """Mean request size of the whole trace (1.0 for an empty one)."""
        if self.total_bytes is None:
            return float(np.mean(self.size)) if len(self.size) else 1.0
        return self.total_bytes / self.n_requests if self.n_requests else 1.0

    def smallest_size(self) -> int:
        """The smallest request size of the whole trace (0 for an empty one)."""
        if self.min_size is None:
            return int(self.size.min()) if len(self.size) else 0
        return self.min_size


@dataclass(frozen=True)
class RequestChunk:
    """The per-request arrays of requests ``start .. start + len(time) - 1`` (``Policy.on_chunk``).

    ``next_access`` (needs_future policies only) is 0-based as ``SimContext.next_access``: the
    index of the next request to the same object, ``n_requests`` if none.
    """

    start: int
    time: np.ndarray  # (m,) float64
    features: np.ndarray | None  # (m, f) float32
    next_access: np.ndarray | None  # (m,) int64


@njit(cache=True)
def admit_all(state, obj, size, i):
    """The default admission hook: every missed object that fits the cache is inserted."""
    return True


@njit(cache=True)
def nothing_parked(state):
    """The default ``parked``: the policy evicts only what ``evict`` returns."""
    return -1


@njit(cache=True)
def forget_nothing(state, obj):
    """The default ``forget``: the policy keeps nothing about objects that are not cached."""
    return None


class Policy:
    """Base class: subclasses set ``name``, the hooks, and ``init_state``; params are kw-only init args."""

    name: ClassVar[str] = ""
    needs_future: ClassVar[bool] = False  # True only for offline oracles such as Belady
    needs_obj_ids: ClassVar[bool] = False  # True to get the trace's ids (W-TinyLFU hashes them as libCacheSim)

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def init_state(self, ctx: SimContext) -> tuple:
        """Allocate the policy's arrays for ``ctx.n_objects`` objects."""
        raise NotImplementedError

    admit = admit_all
    parked = nothing_parked
    forget = forget_nothing
    chunk: ClassVar[int] = 1 << 18  # requests per compiled call (progress, between_chunks)

    def between_chunks(self, state: Any, next_request: int) -> None:
        """Python-side work after each chunk of requests (nothing by default)."""

    def on_chunk(self, state: Any, chunk: RequestChunk) -> Any:
        """``state`` set up for the per-request arrays of ``chunk`` (a streamed replay calls this
        before serving each chunk); returns the state to use. Nothing to do by default: most
        policies read only the hooks' arguments."""
        return state

    def grow_state(self, state: Any, ctx: SimContext) -> Any:
        """``state`` moved into a fresh state for more ids (``ctx.n_objects``), losing nothing.

        The live cache (``store/``) grows its pool of ids this way instead of evicting by count.
        The default builds a fresh state and copies every array of the old one into the start of
        its counterpart: per-object arrays keep their entries and the new ids get the values of a
        never-seen object; fixed-size arrays (scalars, models) are copied whole. That is right for
        any state made of arrays indexed by id plus fixed-size parts (all the online policies);
        a policy whose arrays encode ``n_objects`` in their values must override it, and so must
        one whose state is a StructRef (Python cannot list its fields: HALP and LRB copy them as
        a tuple read by an njit function).
        """
        fresh = self.init_state(ctx)
        copy_state(state, fresh)
        return fresh

    def hooks(self) -> tuple[Any, Any, Any, Any]:
        """The ``(on_hit, admit, evict, on_insert)`` njit functions, as the loop takes them."""
        cls = type(self)
        return (cls.on_hit, cls.admit, cls.evict, cls.on_insert)

    def forget_hook(self) -> Any:
        """The ``forget`` njit function, as the live cache takes it (HALP may hand over another compilation)."""
        return type(self).forget

    def admits_every_miss(self) -> bool:
        """True for demand-paging policies: every missed object that fits is inserted.

        Policies that may refuse (``admit``) or drop (``evict`` returning the newcomer) a miss
        override this to say False; Belady's optimality bound only covers the demand-paging ones.
        """
        return True

    def diagnostics(self) -> dict[str, Any]:
        """Policy-specific results of the last run (learning curves, counters); none by default."""
        return {}

    def params(self) -> dict[str, Any]:
        """The policy's keyword parameters and their current values (for records and repr)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p not in ("self", "seed")]
        return {name: getattr(self, name) for name in names}

    def describe(self) -> str:
        """``name(param=value,...)`` for the non-default params — the spelling ``make_policy`` accepts."""
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        params = {k: v for k, v in self.params().items() if v != defaults.get(k)}
        if not params:
            return self.name
        return f"{self.name}({','.join(f'{k}={v}' for k, v in params.items())})"

    def __repr__(self) -> str:
        return self.describe()


def linked_list(n_objects: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An empty intrusive doubly-linked list over dense ids: ``(prev, next, ends)``.

    ``ends[0]`` is the head (most recent end), ``ends[1]`` the tail; -1 means none.
    """
    return (
        np.full(n_objects, -1, dtype=np.int64),
        np.full(n_objects, -1, dtype=np.int64),
        np.array([-1, -1], dtype=np.int64),
    )


def copy_state(old: Any, new: Any) -> None:
    """Copy ``old`` into ``new`` in place: arrays into their leading corner, tuples item by item
    (see :meth:`Policy.grow_state`)."""
    if isinstance(old, np.ndarray):
        assert old.ndim == new.ndim and all(a <= b for a, b in zip(old.shape, new.shape)), (old.shape, new.shape)
        new[tuple(slice(0, n) for n in old.shape)] = old
    elif isinstance(old, tuple):
        assert len(old) == len(new)
        for a, b in zip(old, new):
            copy_state(a, b)
    elif hasattr(old, "fields"):  # a StructRef part of a state that lists its fields (views)
        copy_state(old.fields(), new.fields())
    else:  # a StructRef state: its policy overrides grow_state and copies its fields as a tuple
        raise AssertionError(f"cannot copy policy state of type {type(old).__name__}")
