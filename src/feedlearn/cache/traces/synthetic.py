"""Seeded synthetic traces: a Zipf workload and a CDN/video-like workload.

Zipf (``zipf_trace``): ``n_objects`` objects, object of popularity rank r requested with probability
proportional to ``r ** -alpha``; ids are a random permutation of ranks so ids carry no popularity.

CDN (``cdn_trace``, parameters in :class:`CdnConfig`) — a small model of a video CDN edge:

* **Catalogue growth.** ``initial_objects`` exist at the start; new objects arrive as a Poisson
  process with ``new_objects_per_1k`` arrivals per 1,000 requests, at uniform random positions.
* **Popularity.** Each object draws a base weight from a Zipf law over a random rank (``alpha``).
  Its weight decays with age as ``2 ** (-age / half_life)``; half-lives are log-normal around
  ``half_life_requests`` (``half_life_sigma``), so some objects fade fast and others stay popular,
  and the popular set shifts over time. Initial objects get random ages so the start is not special.
* **Sizes.** A ``video_fraction`` of objects are video chunks, log-uniform in
  [``video_min_bytes``, ``video_max_bytes``] (default 0.5–4 MB); the rest are small objects
  (thumbnails, manifests, API responses), log-normal with median ``small_median_bytes`` and
  ``small_sigma``, capped at ``small_max_bytes``. Together the sizes are heavy-tailed.
* **Time.** Requests arrive as a Poisson process of ``requests_per_second``.

Sampling is done per epoch (``epochs`` equal slices of the trace): weights are evaluated at the
epoch's midpoint and the epoch's requests are drawn by inverse-CDF lookups, which keeps generation
vectorised (about a second per million requests).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from feedlearn.cache.traces.model import Trace, TraceChunk
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.seeding import make_rng

MAX_GENERATED = 2**31  # requests or objects one generated trace may have (arrays are allocated up front)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _count(what: str, name: str, value: object) -> None:
    """A request or object count from the user: an integer in [1, MAX_GENERATED]."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 1 <= value <= MAX_GENERATED:
        raise FeedlearnError(f"{what}: {name} must be an integer in [1, {MAX_GENERATED:,}], got {value!r}")


def zipf_trace(
    n_requests: int,
    n_objects: int,
    alpha: float = 1.0,
    *,
    seed: int = 0,
    object_size: int | tuple[int, int] = 1,
    requests_per_second: float = 1000.0,
) -> Trace:
    """Independent requests with Zipf(``alpha``) popularity over ``n_objects`` objects.

    ``object_size`` is either a constant (1 = unit size) or a ``(low, high)`` byte range from which
    each object's size is drawn log-uniformly once.
    """
    _count("zipf trace", "n_requests", n_requests)
    _count("zipf trace", "n_objects", n_objects)
    if not (_is_number(alpha) and 0 <= alpha < math.inf):
        raise FeedlearnError(f"zipf trace: alpha must be a finite number >= 0, got {alpha!r}")
    if not (_is_number(requests_per_second) and 0 < requests_per_second < math.inf):
        raise FeedlearnError(f"zipf trace: requests_per_second must be a finite number > 0, got {requests_per_second!r}")
    rng = make_rng(seed)
    weights = np.arange(1, n_objects + 1, dtype=np.float64) ** -alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.minimum(np.searchsorted(cdf, rng.random(n_requests), side="right"), n_objects - 1)
    ids_by_rank = rng.permutation(n_objects).astype(np.uint64)
    if isinstance(object_size, tuple):
        low, high = object_size
        sizes_by_rank = np.exp(rng.uniform(np.log(low), np.log(high), n_objects)).astype(np.int64)
    else:
        sizes_by_rank = np.full(n_objects, int(object_size), dtype=np.int64)
    return Trace(
        name=f"zipf(alpha={alpha},objects={n_objects},seed={seed})",
        time=np.cumsum(rng.exponential(1.0 / requests_per_second, n_requests)),
        obj_id=ids_by_rank[ranks],
        size=sizes_by_rank[ranks],
        has_sizes=isinstance(object_size, tuple) or object_size != 1,
    )


@dataclass(frozen=True, kw_only=True)
class CdnConfig:
    """Parameters of the CDN/video-like generator (see the module docstring for the model)."""

    n_requests: int = 1_000_000
    initial_objects: int = 20_000
    new_objects_per_1k: float = 20.0
    alpha: float = 0.9
    half_life_requests: float = 200_000.0
    half_life_sigma: float = 1.0
    video_fraction: float = 0.3
    video_min_bytes: int = 500_000
    video_max_bytes: int = 4_000_000
    small_median_bytes: int = 16_000
    small_sigma: float = 1.5
    small_max_bytes: int = 500_000
    requests_per_second: float = 2000.0
    epochs: int = 200
    seed: int = 0


def cdn_trace(config: CdnConfig | None = None, **overrides: object) -> Trace:
    """A CDN/video-like trace: shifting popularity, arriving objects, heavy-tailed sizes."""
    cfg = _cdn_config(config, overrides)
    parts = list(cdn_chunks(cfg))
    return Trace(
        name=f"cdn(seed={cfg.seed},n={cfg.n_requests})",
        time=np.concatenate([c.time for c in parts]),
        obj_id=np.concatenate([c.obj_id for c in parts]),
        size=np.concatenate([c.size for c in parts]),
        has_sizes=True,
    )


def _cdn_config(config: CdnConfig | None, overrides: dict) -> CdnConfig:
    cfg = config or CdnConfig()
    if overrides:
        cfg = CdnConfig(**{**cfg.__dict__, **overrides})
    for name in ("n_requests", "initial_objects", "epochs"):
        _count("cdn trace", name, getattr(cfg, name))
    for name, value in cfg.__dict__.items():  # every float parameter: finite, and none negative
        if name != "seed" and not (_is_number(value) and 0 <= value < math.inf):
            raise FeedlearnError(f"cdn trace: {name} must be a finite number >= 0, got {value!r}")
    return cfg


def cdn_chunks(config: CdnConfig | None = None, *, chunk: int = 1 << 20, **overrides: object) -> Iterator[TraceChunk]:
    """``cdn_trace``'s requests as chunks of at most ``chunk``, generated as they are needed.

    Memory is O(objects + chunk), so a billion-request trace can be written to disk as it is
    generated (``feedlearn cache generate cdn``). The requests are ``cdn_trace``'s exactly: the
    epochs' uniform draws come from the generator's stream in order, and the draws made after them
    (the id permutation, the inter-arrival times) from a copy of the generator advanced past them
    (one 64-bit step per uniform double).
    """
    cfg = _cdn_config(config, overrides)
    rng = make_rng(cfg.seed)
    n = cfg.n_requests
    n_new = int(rng.poisson(cfg.new_objects_per_1k * n / 1000.0))
    n_obj = cfg.initial_objects + n_new
    # Birth position in requests: initial objects were born up to two half-lives ago.
    birth = np.concatenate([
        -rng.uniform(0, 2 * cfg.half_life_requests, cfg.initial_objects),
        np.sort(rng.uniform(0, n, n_new)),
    ])
    base = rng.permutation(n_obj).astype(np.float64) + 1.0
    base **= -cfg.alpha
    half_life = cfg.half_life_requests * rng.lognormal(0.0, cfg.half_life_sigma, n_obj)
    is_video = rng.random(n_obj) < cfg.video_fraction
    video = np.exp(rng.uniform(np.log(cfg.video_min_bytes), np.log(cfg.video_max_bytes), n_obj))
    small = np.minimum(rng.lognormal(np.log(cfg.small_median_bytes), cfg.small_sigma, n_obj), cfg.small_max_bytes)
    sizes = np.maximum(np.where(is_video, video, small), 1).astype(np.int64)
    del is_video, video, small

    after = np.random.Generator(copy.deepcopy(rng.bit_generator))
    state = after.bit_generator.state
    after.bit_generator.advance(n)  # past the n uniform draws of the epochs below (64 bits each) ...
    advanced = after.bit_generator.state
    advanced.update(has_uint32=state["has_uint32"], uinteger=state["uinteger"])  # ... which never touch the
    after.bit_generator.state = advanced  # buffered 32-bit half that advance() drops and permutation uses
    ids = after.permutation(n_obj).astype(np.uint64)  # ids carry neither age nor popularity
    clock = 0.0
    bounds = np.linspace(0, n, cfg.epochs + 1).astype(np.int64)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi == lo:
            continue
        mid = 0.5 * (lo + hi)
        age = mid - birth
        weight = np.where(age >= 0, base * np.exp2(-np.maximum(age, 0) / half_life), 0.0)
        cdf = np.cumsum(weight)
        del age, weight
        for start in range(lo, hi, chunk):
            m = min(chunk, hi - start)
            draws = rng.random(m) * cdf[-1]
            objects = np.minimum(np.searchsorted(cdf, draws, side="right"), n_obj - 1)
            # cumulative sum carried across chunks, each step as one cumsum over the whole trace makes it
            time = np.cumsum(np.concatenate(([clock], after.exponential(1.0 / cfg.requests_per_second, m))))[1:]
            clock = float(time[-1])
            yield TraceChunk(int(start), time, ids[objects], sizes[objects])
