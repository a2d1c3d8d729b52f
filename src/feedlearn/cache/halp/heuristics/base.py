"""What a HALP candidate heuristic is: a cheap priority order whose low end proposes candidates.

A heuristic is a small class (``fifo.py`` is the template): its state is a StructRef of its own
type, built by :meth:`CandidateHeuristic.new_state`, and it names ``@njit`` hooks that HALP calls
through the dispatch in ``heuristics/__init__.py`` (resolved at compile time by the state's type):

- ``on_hit(hs, obj, size, i)`` / ``on_insert(hs, obj, size, i)`` / ``remove(hs, obj)`` — keep the
  order as the cache changes (``remove``: ``obj`` is evicted);
- ``window(hs, max_len, out) -> n`` — list up to ``max_len`` cached ids, lowest priority first;
- ``candidates(hs, rng, k, tail, listed, out) -> n`` — optional: ``k`` distinct ids drawn uniformly
  from the ``tail`` lowest priorities into ``out``, lowest first (``listed``: scratch of ``tail``).
  The default lists the window into ``listed`` and draws ``k`` of its positions; LRU draws from
  its region directly, without listing;
- ``admits(hs, obj, size) -> bool`` — optional, on every miss before any eviction (default: yes);
- ``forget(hs, obj)`` — optional: a live cache reuses ``obj``'s id (default: nothing to drop).

Why compile-time dispatch rather than integer codes: adding a heuristic is one new file and one
line in ``HEURISTICS``. HALP's own learning code does not take the heuristic's state, so each new
heuristic compiles only its hooks and HALP's five thin hook wrappers.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from numba import njit, types
from numba.experimental import structref


@functools.cache
def uncached(fn: Any) -> Any:
    """A twin of the cached ``@njit`` function ``fn``, with its options but not cached on disk, made once
    per process. numba's on-disk index of a cached function lists every signature it was compiled for,
    and loading the index imports each signature's types: code compiled for a heuristic defined in a
    user's (or a test's) module would make every later process that cannot import that module fail.
    HALP's hooks and this package's defaults run through these twins for such heuristics."""
    return njit(**{k: v for k, v in fn.targetoptions.items() if k not in ("cache", "nopython")})(fn.py_func)


@njit(cache=True)
def admit_all(hs, obj, size):
    return True


@njit(cache=True)
def forget_nothing(hs, obj):
    return None


def _getter(name: str):
    @njit
    def get(state):
        return getattr(state, name)

    return property(lambda self: get(self), doc=f"the ``{name}`` field (a view: writing it writes the state)")


def define_state(proxy: type, state_type: type, fields: list[str]) -> None:
    """``structref.define_proxy`` plus Python access: a property per field (``hs.where``) and
    ``proxy.fields()``, every field in order, for ``Policy.grow_state``'s copy and for tests.
    (Each property compiles a small getter on first use, in Python only: the hooks read fields directly.)"""
    structref.define_proxy(proxy, state_type, fields)
    for name in fields:
        setattr(proxy, name, _getter(name))
    proxy.field_names = tuple(fields)
    proxy.fields = lambda self: tuple(getattr(self, name) for name in fields)


class StateType(types.StructRef):
    """Base of the heuristics' StructRef types (fields are typed as their values, unliteral)."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class CandidateHeuristic:
    """Base class: subclasses set ``name``, ``state_type``, ``proxy`` and the hooks."""

    name: ClassVar[str] = ""
    state_type: ClassVar[type] = StateType  # the numba type class of the state (dispatch key)
    proxy: ClassVar[type] = object  # the StructRefProxy class Python sees
    admits = admit_all
    forget = forget_nothing
    candidates: ClassVar[Any] = None  # None: list the window, draw k of its positions

    def __init__(self, *, seed: int = 0, capacity: int = 0, tail: int = 1) -> None:
        self.seed, self.capacity, self.tail = seed, capacity, tail

    def new_state(self, n_objects: int) -> Any:
        """An empty state over ``n_objects`` dense ids."""
        raise NotImplementedError

    def admits_every_miss(self) -> bool:
        """False when ``admits`` may refuse a miss (then Belady's bound does not apply to HALP)."""
        return True
