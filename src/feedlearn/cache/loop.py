"""The access loop, written once for every policy (``simulator.py`` and streamed replays drive it).

Its own module so that the simulator and the streamed replay (``streaming.py``) both import it
without importing each other.
"""

from __future__ import annotations

from numba import njit


@njit
def drain(state, parked, resident_size, used):
    """Remove the objects the policy evicted on its own (``Policy.parked``); returns the bytes in use."""
    victim = parked(state)
    while victim >= 0:
        if resident_size[victim] < 0:
            raise AssertionError("policy parked an object that is not in the cache")
        used -= resident_size[victim]
        resident_size[victim] = -1
        victim = parked(state)
    return used


@njit(nogil=True)  # a streamed replay reads the next chunk in another thread meanwhile
def access_loop(obj, size, start, end, base, capacity, used, resident_size, hits, state, on_hit, admit, evict,
                on_insert, parked):
    """Serve requests ``base + start .. base + end - 1`` (``obj``/``size``/``hits`` hold requests from
    ``base`` on: a streamed chunk, or the whole trace with ``base = 0``); returns the bytes in use.

    ``resident_size[o]`` is the size ``o`` was admitted with, or -1 when ``o`` is not cached;
    ``hits[i]`` is set for every hit. On a miss, ``admit`` runs first (every miss, like
    libCacheSim's ``find``), then the size check. ``evict`` may return the missed object itself:
    it is then dropped and not inserted, the evictions made before standing (libCacheSim's
    insert-then-evict, where a newcomer can be the lowest-priority object). After every hook the
    objects the policy evicted on its own leave too (``drain``); ``parked`` is None for the policies
    that never do, and numba then compiles those branches away (sieve measured 34-46 M requests/s
    with the calls, 58 without, as before the hook existed).
    (Not cached by numba: its type depends on the policy's hooks.)
    """
    for j in range(start, end):
        i = base + j  # the hooks see the request's index in the whole trace
        o = obj[j]
        s = size[j]
        if resident_size[o] >= 0:
            hits[j] = True
            on_hit(state, o, s, i)
            if parked is not None:
                used = drain(state, parked, resident_size, used)
            continue
        admitted = admit(state, o, s, i)
        if parked is not None:
            used = drain(state, parked, resident_size, used)
        if not admitted or s > capacity:
            continue
        bypassed = False
        while used + s > capacity:
            victim = evict(state, o, s, i)
            if victim == o:
                bypassed = True
                break
            if resident_size[victim] < 0:
                raise AssertionError("policy evicted an object that is not in the cache")
            used -= resident_size[victim]
            resident_size[victim] = -1
            if parked is not None:
                used = drain(state, parked, resident_size, used)
        if bypassed:
            if parked is not None:
                used = drain(state, parked, resident_size, used)
            continue
        on_insert(state, o, s, i)
        resident_size[o] = s
        used += s
        if parked is not None:
            used = drain(state, parked, resident_size, used)
    return used
