"""What the HTTP backends share: a rate limiter and one retry loop with exponential backoff.

A backend's ``call`` either returns the reply, raises ``Retryable`` (429, 5xx, a dropped connection,
a timeout — with the server's Retry-After when it sent one) or raises ``FeedlearnError`` for a
failure that another attempt will not fix. ``with_retries`` waits ``backoff · 2^attempt`` seconds
(or Retry-After) between attempts and, when they are used up, fails with one line naming the
backend, the server and the last error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from feedlearn.common.errors import FeedlearnError


class Retryable(Exception):
    """A failure worth another attempt; ``wait``: the server's Retry-After in seconds, if it gave one."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class RateLimiter:
    """At most ``rate`` acquisitions per second, spaced evenly (an async token bucket of size 1)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_time = 0.0
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            wait = self.next_time - now
            self.next_time = max(now, self.next_time) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


def retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (None when absent or not a number)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


async def with_retries(call: Callable[[], Awaitable[str]], *, where: str, max_retries: int, backoff: float,
                       limiter: RateLimiter) -> str:
    """``call()`` until it answers, at most ``max_retries + 1`` times (module docstring)."""
    last = ""
    for attempt in range(max_retries + 1):
        await limiter.acquire()
        try:
            return await call()
        except Retryable as exc:
            last = str(exc)
            if attempt < max_retries:
                await asyncio.sleep(exc.wait if exc.wait is not None else backoff * 2 ** attempt)
    raise FeedlearnError(f"{where}: gave up after {max_retries + 1} attempts: {last}")
