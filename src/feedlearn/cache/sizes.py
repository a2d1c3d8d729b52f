"""Cache sizes as users write them: ``64MiB``, ``10GB``, ``4096``, ``1%`` or ``0.1`` of unique bytes."""

from __future__ import annotations

import re

from feedlearn.common.errors import FeedlearnError

_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z%]*)\s*$")


def resolve_cache_size(spec: str | int | float, unique_bytes: int) -> int:
    """Cache capacity in bytes (objects in unit-size mode) for ``spec`` on a trace.

    A percentage or a plain number below 1 is a fraction of the trace's unique bytes, truncated to
    an integer exactly as libCacheSim does (``int(fraction * wss)``); anything else is an absolute
    size, with decimal (``KB``, ``MB``, ``GB``) or binary (``KiB``, ``MiB``, ``GiB``; ``K``/``M``/``G``)
    units.
    """
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        number, unit = float(spec), ""
    else:
        match = _SIZE.match(str(spec))
        if not match:
            raise FeedlearnError(f"cache size {spec!r}: expected e.g. 64MiB, 10GB, 4096, 1% or 0.1")
        number, unit = float(match.group(1)), match.group(2).lower()
    if unit == "%":
        fraction = number / 100.0
    elif unit == "" and number < 1:
        fraction = number
    elif unit in _UNITS:
        size = int(number * _UNITS[unit])
        if size < 1:
            raise FeedlearnError(f"cache size {spec!r} is smaller than one byte")
        return size
    else:
        raise FeedlearnError(f"cache size {spec!r}: unknown unit {unit!r}")
    if not 0 < fraction <= 1:
        raise FeedlearnError(f"cache size {spec!r}: a fraction must be in (0, 100%]")
    return max(1, int(fraction * unique_bytes))
