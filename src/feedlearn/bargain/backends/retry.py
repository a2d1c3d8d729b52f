"""What the HTTP backends share: their options, a rate limiter, one retry loop, and care with server text.

A backend's ``call`` either returns the reply, raises ``Retryable`` (429, 5xx, a dropped connection,
a timeout — with the server's Retry-After when it sent one) or raises ``FeedlearnError`` for a
failure that another attempt will not fix. ``with_retries`` waits ``backoff · 2^attempt`` seconds
(or Retry-After) between attempts, never more than ``max_retry_wait`` — a server answering
``Retry-After: 86400`` must not park an experiment for a day — and, when the attempts are used up,
fails with one line naming the backend, the server and the last error.

Everything a server sends is untrusted: its bodies are read up to ``MAX_BODY`` bytes, and its words
reach our messages only through ``server_text`` (no control sequences, one line, bounded length).
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from feedlearn.common.errors import FeedlearnError, did_you_mean, validation_error
from feedlearn.common.text import plain

MAX_BODY = 8 * 2**20  # bytes of one reply body; max_tokens <= 131,072 tokens fits many times over
SERVER_TEXT_CHARS = 200  # how much of a server's error message our one-line errors quote


class ClientOptions(BaseModel):
    """How an HTTP backend talks to its server (``llm_options`` of an experiment); all checked when given."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    timeout: float = Field(60.0, gt=0, le=3600, description="Seconds to wait for one reply.")
    max_retries: int = Field(4, ge=0, le=100, description="Attempts after the first on 429, 5xx and timeouts.")
    backoff: float = Field(1.0, ge=0, le=600, description="First wait between attempts (s); doubles each time.")
    max_retry_wait: float = Field(60.0, ge=0, le=3600, description="Longest wait between attempts (s), whatever "
                                                                     "the server's Retry-After says.")
    rate: float | None = Field(None, gt=0, le=10_000, description="Requests per second per backend (none: no cap).")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # pydantic's own "extra" error names no alternative; a typo ("tiemout") deserves the close match
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    hint = did_you_mean(key, list(cls.model_fields), list_known=True)
                    raise PydanticCustomError("unknown_option", "unknown option {key}{hint}",
                                              {"key": repr(plain(key)), "hint": hint})
        return data


def client_options(where: str, options: dict[str, Any]) -> ClientOptions:
    """``options`` checked as ``ClientOptions``; a mistake is one line naming ``where`` and the option."""
    try:
        return ClientOptions.model_validate(options)
    except ValidationError as exc:  # options come from code and experiment files: say what arrived
        raise validation_error(where, exc, {k: f"option {k}" for k in ClientOptions.model_fields},
                               show_input=True) from None


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


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """A Retry-After header in seconds: delta-seconds or an HTTP-date (``now``: Unix time, for tests).

    None when absent or unusable — not a number or date, negative, NaN or infinite — so the caller
    falls back to its backoff; a date in the past means "now" (0).
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = max(when.timestamp() - (time.time() if now is None else now), 0.0)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


async def with_retries(call: Callable[[], Awaitable[str]], *, where: str, max_retries: int, backoff: float,
                       limiter: RateLimiter, max_wait: float = 60.0,
                       sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> str:
    """``call()`` until it answers, at most ``max_retries + 1`` times (module docstring)."""
    assert max_retries >= 0 and max_wait >= 0  # ClientOptions checked them
    last = ""
    for attempt in range(max_retries + 1):
        await limiter.acquire()
        try:
            return await call()
        except Retryable as exc:
            last = str(exc)
            if attempt < max_retries:
                await sleep(min(exc.wait if exc.wait is not None else backoff * 2.0 ** attempt, max_wait))
    raise FeedlearnError(f"{where}: gave up after {max_retries + 1} attempts: {last}")


def server_text(text: object, limit: int = SERVER_TEXT_CHARS) -> str:
    """A server's words fit to quote in a one-line error: no control sequences, one line, at most ``limit`` chars."""
    one_line = " ".join(plain(text).split())
    return one_line if len(one_line) <= limit else one_line[:limit - 1] + "…"


async def read_capped(chunks: AsyncIterator[bytes], where: str, limit: int = MAX_BODY) -> bytes:
    """A response body from its chunks, refusing one over ``limit`` bytes before it fills memory."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise FeedlearnError(f"{where}: the reply is larger than {limit // 2**20} MiB; is this a chat server?")
    return bytes(body)
