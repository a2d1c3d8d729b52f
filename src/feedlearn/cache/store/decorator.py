"""``learned_cache``: memoize a function like ``functools.lru_cache``, evicting with any online policy."""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from feedlearn.cache.core.policy import Policy
from feedlearn.cache.store.cache import PolicyCache
from feedlearn.common.errors import FeedlearnError

CacheInfo = namedtuple("CacheInfo", ["hits", "misses", "maxsize", "currsize"])
_KWARGS = object()  # separates positional from keyword arguments in a key
_MISSING = object()


def make_key(args: tuple, kwargs: dict, typed: bool) -> Hashable:
    """The cache key of a call, built as ``functools.lru_cache`` does (unhashable arguments raise TypeError)."""
    key = args
    if kwargs:
        key += (_KWARGS, *kwargs.items())
    if typed:
        key += tuple(type(a) for a in args) + tuple(type(v) for v in kwargs.values())
    return key


def learned_cache(maxsize: int | Callable = 128, policy: str | Policy = "halp",
                  getsizeof: Callable[[Any], int] | None = None, typed: bool = False, *, seed: int = 0) -> Callable:
    """Memoize a function in a :class:`PolicyCache`, like ``functools.lru_cache`` with a learned policy.

    The wrapper has ``cache_info()`` (hits, misses, maxsize, currsize), ``cache_clear()``,
    ``cache_parameters()`` and ``cache`` (the PolicyCache). The function runs outside the cache's
    lock, so recursive and concurrent calls do not block (two threads missing the same key both
    call it; the second result replaces the first). A result too large to cache is returned uncached.
    """
    if callable(maxsize) and not isinstance(maxsize, (int, np.integer)):  # used bare: @learned_cache
        return learned_cache()(maxsize)

    def decorate(func: Callable) -> Callable:
        cache = PolicyCache(maxsize, policy, getsizeof, seed=seed)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = make_key(args, kwargs, typed)
            value = cache.get(key, _MISSING)
            if value is not _MISSING:
                return value
            value = func(*args, **kwargs)
            try:
                cache[key] = value
            except FeedlearnError:  # a bad size from getsizeof: the caller's bug, not "too large"
                raise
            except ValueError:  # too large to cache, as cachetools' @cached
                pass
            return value

        wrapper.cache = cache
        wrapper.cache_info = lambda: CacheInfo(cache.hits, cache.misses, cache.maxsize, cache.currsize)
        wrapper.cache_clear = cache.clear
        wrapper.cache_parameters = lambda: {"maxsize": cache.maxsize, "typed": typed, "policy": cache.policy.describe()}
        return wrapper

    return decorate
