"""Checks for policy parameters, shared by every policy's ``__init__``.

Parameters arrive from the user (``s3fifo(small_ratio=0.1)`` on the command line, or Python), so a
bad one is a one-line :class:`FeedlearnError` naming the policy and the parameter: never NaN or
infinity, never a bool where a number is meant, and every count that sizes an array bounded, so a
typo such as ``tail=10**12`` is an error instead of an attempt to allocate terabytes.
"""

from __future__ import annotations

import math

import numpy as np

from feedlearn.common.errors import FeedlearnError

# Counts that size arrays (candidates, buffers, queues): generous, far below what would exhaust memory.
MAX_COUNT = 1 << 24
# Counts that are only compared or stored in int64 scalars (intervals, thresholds, request windows).
MAX_SCALAR = 1 << 62


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def int_param(policy: str, name: str, value: object, low: int = 1, high: int = MAX_COUNT) -> int:
    """An integer in ``[low, high]``."""
    if not _is_int(value) or not low <= value <= high:
        raise FeedlearnError(f"{policy}: {name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def float_param(policy: str, name: str, value: object, low: float = 0.0, high: float = math.inf, *,
                low_open: bool = True, high_open: bool = True) -> float:
    """A finite number in the interval from ``low`` to ``high`` (open ends by default)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise FeedlearnError(f"{policy}: {name} must be a finite number in {interval}, got {value!r}")
    return float(value)


def bool_param(policy: str, name: str, value: object) -> bool:
    """``True`` or ``False`` (the spelling ``make_policy`` parses from ``true``/``false``)."""
    if not isinstance(value, bool):
        raise FeedlearnError(f"{policy}: {name} must be true or false, got {value!r}")
    return value


def choice_param(policy: str, name: str, value: object, choices: object) -> str:
    """One of ``choices`` (a collection of strings)."""
    if not isinstance(value, str) or value not in choices:  # type: ignore[operator]
        raise FeedlearnError(f"{policy}: {name} must be one of {', '.join(choices)}, got {value!r}")  # type: ignore[arg-type]
    return value
