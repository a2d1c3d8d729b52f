"""Cache sizes as users write them: ``64MiB``, ``10GB``, ``4096``, ``1%`` or ``0.1`` of unique bytes."""

from __future__ import annotations

import math
import re

from feedlearn.common.errors import FeedlearnError

_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z%]*)\s*$")


# Capacities stay below 2**62 so that bytes in use plus one more object (each <= capacity) never
# overflow the simulator's int64 counters.
MAX_CAPACITY = 2**62 - 1


def check_cache_size(spec: str | int | float) -> tuple[float, bool]:
    """Validate ``spec`` without a trace: ``(value, is_fraction)`` — bytes, or a fraction of the
    trace's unique bytes. Sweeps call it first, so a misspelt size fails before any trace is read."""
    if isinstance(spec, bool) or not isinstance(spec, (int, float, str)):
        raise FeedlearnError(f"cache size {spec!r}: expected e.g. 64MiB, 10GB, 4096, 1% or 0.1")
    if isinstance(spec, int) and spec >= 1:  # bytes, exactly (a float could round past the limit)
        if spec > MAX_CAPACITY:
            raise FeedlearnError(f"cache size {spec!r} is larger than the limit of {MAX_CAPACITY} bytes (2**62 - 1)")
        return float(spec), False
    if isinstance(spec, (int, float)):
        number, unit = float(spec), ""
    else:
        match = _SIZE.match(spec)
        if not match:
            raise FeedlearnError(f"cache size {spec!r}: expected e.g. 64MiB, 10GB, 4096, 1% or 0.1")
        number, unit = float(match.group(1)), match.group(2).lower()
    if not math.isfinite(number):  # nan from Python, or 1e999 overflowing to inf
        raise FeedlearnError(f"cache size {spec!r} is not a finite number")
    if unit == "%":
        fraction = number / 100.0
    elif unit == "" and number < 1:
        fraction = number
    elif unit in _UNITS:
        size = number * _UNITS[unit]
        if size < 1:
            raise FeedlearnError(f"cache size {spec!r} is smaller than one byte")
        if size > MAX_CAPACITY:
            raise FeedlearnError(f"cache size {spec!r} is larger than the limit of {MAX_CAPACITY} bytes (2**62 - 1)")
        return size, False
    else:
        raise FeedlearnError(f"cache size {spec!r}: unknown unit {unit!r}")
    if not 0 < fraction <= 1:
        raise FeedlearnError(f"cache size {spec!r}: a fraction must be in (0, 100%]")
    return fraction, True


def resolve_cache_size(spec: str | int | float, unique_bytes: int) -> int:
    """Cache capacity in bytes (objects in unit-size mode) for ``spec`` on a trace.

    A percentage or a plain number below 1 is a fraction of the trace's unique bytes, truncated to
    an integer exactly as libCacheSim does (``int(fraction * wss)``); anything else is an absolute
    size, with decimal (``KB``, ``MB``, ``GB``) or binary (``KiB``, ``MiB``, ``GiB``; ``K``/``M``/``G``)
    units. Sizes are at most :data:`MAX_CAPACITY`.
    """
    value, is_fraction = check_cache_size(spec)
    if not is_fraction:
        return spec if isinstance(spec, int) else int(value)
    return min(MAX_CAPACITY, max(1, int(value * unique_bytes)))
