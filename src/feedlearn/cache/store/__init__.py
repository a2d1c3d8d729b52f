"""A real cache for Python programs, driven by any registered eviction policy (HALP by default).

:class:`PolicyCache` is a thread-safe ``MutableMapping`` shaped like cachetools' caches
(``maxsize``, ``currsize``, ``getsizeof``; a value larger than ``maxsize`` raises
``ValueError("value too large")``) whose evictions are chosen by a policy's compiled hooks, with the
simulator's semantics (``simulator.access_loop``): a lookup that finds the key calls ``on_hit``; a
``__setitem__`` of a key that is not cached is the miss path (``admit`` → ``evict`` until the value
fits → ``on_insert``); a ``__setitem__`` of a cached key replaces its value as a hit. So a program
doing ``v = cache.get(k)`` then ``cache[k] = f(k)`` on a miss gets exactly the simulator's hits on
the same request sequence, and HALP learns online as it does there. :func:`learned_cache` wraps a
function like ``functools.lru_cache``.

Slots. Policies keep arrays over dense ids ``0..slots-1`` sized once (``init_state``), so keys are
mapped to a fixed pool of ``slots = max_items * (1 + ghost_slots) + 1``. A key keeps its slot after
it is evicted — the policy may still hold a ghost entry or metadata for it (ARC's B1/B2, S3-FIFO's
ghost FIFO, HALP's ghost), so setting it again is recognised. When the pool is used up, the slot of
the non-cached key that left the cache longest ago (evicted, or refused on its last set) is reused,
after the policy's ``forget`` hook drops what it kept for it. Leaving order, not last request, because
the ghosts above are FIFOs in eviction order: the oldest leaver is what they drop first.

Results equal an unbounded pool's (the simulator's) as long as a reused key is one the policy had
already forgotten. ``ghost_slots`` = 4 per cached item covers S3-FIFO's ghost (0.9 × capacity),
HALP's (4 × cached items) and ARC's (at most ``maxsize`` items), and the tests pin equality for LRU,
ARC and S3-FIFO on Zipf traces with the default pool. Two exceptions, measured: HALP also keeps a
comparison pair pending while either of its objects is tracked, and ``forget`` drops those pairs, so
at 4 ghost slots it differs slightly (3 hits in 20,000 on the test trace; identical from 6). ARC's B2
list can keep a ghost for any length of time (it is trimmed only when the directory reaches twice the
capacity), so on low-locality traces (uniform random) reuse forgets ghosts an unbounded run would
still hit: ±1–3% of hits at 4 ghost slots, none at 16 on the traces tried.

Decided limits (also in ``cache/README.md``):

* Without ``getsizeof`` the pool holds ``maxsize`` items from the start. With ``getsizeof`` (bytes)
  it starts at ``maxsize // 1024`` items (at least 16, at most ``maxsize``), i.e. items of about
  1 KiB, and doubles whenever the policy holds that many (``Policy.grow_state`` moves its arrays
  into bigger ones, keeping all it learned), up to ``maxsize`` items: a cache with room keeps every
  item, however small (only items of 0 bytes can still be evicted by count, past ``maxsize`` of
  them). An explicit ``max_items`` fixes the pool: at most ``slots - 1`` keys are held by the policy
  at once, and beyond that the cache evicts by count.
  ``ghost_slots`` defaults to 4, or 1 for policies without a ``forget`` hook (they keep nothing about
  evicted keys; the slack holds deleted keys, below).
* Sizes from ``getsizeof`` must be integers >= 0 (``TypeError`` / ``FeedlearnError`` otherwise) and
  ``maxsize`` is at most ``2**62 - 1``, so bytes in use plus one more value never overflow int64.
* ``del`` / ``pop`` / ``clear`` drop the value at once (``len``/``currsize`` shrink), but the
  interface has no hook to take a cached id out of a policy: the slot stays in the policy's
  structures, counted as 0 bytes, until the policy evicts it (then it is reused like any other).
  A deleted key set again is a new object to the policy. ``clear`` keeps what the policy learned.
  Past ``ghost_slots × max_items`` deleted keys still held, the cache evicts by count.
* A set that grows a cached value beyond the free room is handled as a delete plus a fresh miss.
* Sizes of 0 are accounted as 0 bytes but passed to hooks as 1 (GDSF divides by the size).
* ``i`` (the request index hooks receive) counts operations that reached the policy (hits and sets),
  so it equals the simulator's request index for the get-then-set-on-miss pattern.
"""

from feedlearn.cache.store.cache import HALPCache, PolicyCache
from feedlearn.cache.store.decorator import CacheInfo, learned_cache

__all__ = ["CacheInfo", "HALPCache", "PolicyCache", "learned_cache"]
