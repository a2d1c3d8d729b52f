"""Anthropic's Messages API over httpx: the system prompt as a top-level field, alternating roles merged.

The Messages API takes ``system`` apart from the turns and wants turns that alternate user /
assistant, starting with user; ``to_anthropic`` converts our chat messages (several system
messages joined, consecutive same-role messages merged with a blank line, a leading assistant turn
preceded by a minimal user turn). Retries, backoff, Retry-After (capped) and rate limiting:
``retry.py``, shared with the OpenAI-compatible backend. Uses ``httpx`` directly (already a
dependency via ``openai``), so no extra SDK is needed. A body that is not a Messages API reply with
some text (HTML, an OpenAI-format answer, no text blocks) is one line naming the server, never an
empty turn.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from feedlearn.bargain.backends.base import BaseBackend, EmptyReply, Message, Params, alternating, server_spec
from feedlearn.bargain.backends.retry import (
    ClientOptions,
    RateLimiter,
    Retryable,
    client_options,
    read_capped,
    retry_after,
    server_text,
    with_retries,
)
from feedlearn.common.errors import FeedlearnError

API_VERSION = "2023-06-01"
RETRY_STATUS = {429, 500, 502, 503, 504, 529}  # 529: Anthropic's "overloaded"


def to_anthropic(messages: list[Message]) -> tuple[str, list[Message]]:
    """``(system, turns)`` in the Messages API's shape: ``base.alternating`` with the system apart."""
    shaped = alternating(messages)
    if shaped and shaped[0]["role"] == "system":
        return shaped[0]["content"], shaped[1:]
    return "", shaped


@dataclass
class AnthropicMessages(BaseBackend):
    """``anthropic:MODEL[@URL]``: the Messages API (default: api.anthropic.com); options: ``ClientOptions``."""

    model: str
    base_url: str = "https://api.anthropic.com"
    api_key: str | None = field(default=None, repr=False)  # None: $ANTHROPIC_API_KEY
    options: ClientOptions = field(default_factory=ClientOptions)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"anthropic:{self.model}"
        self.identity = f"anthropic:{self.model}@{self.base_url.rstrip('/')}"  # the reply cache keys on it
        self._limiter = RateLimiter(self.options.rate)

    @classmethod
    def from_spec(cls, spec: str, api_key: str | None = None, **options: Any) -> AnthropicMessages:
        model, base_url = server_spec(spec)
        return cls(model, **({"base_url": base_url} if base_url else {}), api_key=api_key,
                   options=client_options(spec, options))

    async def complete(self, messages: list[Message], params: Params) -> str:
        import httpx

        system, turns = to_anthropic(messages)
        body: dict[str, Any] = {"model": self.model, "max_tokens": params.max_tokens, "messages": turns,
                                "temperature": params.temperature}
        if system:
            body["system"] = system
        if params.stop:
            body["stop_sequences"] = list(params.stop)
        headers = {"x-api-key": self.api_key or os.environ.get("ANTHROPIC_API_KEY", ""),
                   "anthropic-version": API_VERSION, "content-type": "application/json"}
        where = f"{self.name} at {self.base_url}"
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.options.timeout) as client:

            async def call() -> str:
                try:
                    async with client.stream("POST", "/v1/messages", json=body, headers=headers) as response:
                        data = await read_capped(response.aiter_bytes(), where)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    raise Retryable(f"{type(exc).__name__}: {server_text(exc)}".strip()) from None
                except httpx.RequestError as exc:  # e.g. a body that does not decode: another try will not help
                    raise FeedlearnError(f"{where}: {type(exc).__name__}: {server_text(exc)}") from None
                if response.status_code == 200:
                    return reply_text(data, where)
                message = _error_message(data)
                if response.status_code not in RETRY_STATUS:
                    raise FeedlearnError(f"{where}: HTTP {response.status_code}: {message}")
                raise Retryable(f"HTTP {response.status_code}: {message}", retry_after(response.headers.get("retry-after")))

            return await with_retries(call, where=where, max_retries=self.options.max_retries,
                                      backoff=self.options.backoff, limiter=self._limiter,
                                      max_wait=self.options.max_retry_wait)


def reply_text(body: bytes, where: str) -> str:
    """The text of a Messages API reply body, or one line saying how the body is not one.

    An OpenAI-format server answering ``anthropic:`` has no ``content`` list: an error, not "".
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        start = server_text(body.decode("utf-8", "replace"), 80) if body.strip() else ""
        what = f"starts with {start!r}" if start else "an empty body"
        raise FeedlearnError(f"{where}: the reply is not JSON ({what}); is this the Messages API?") from None
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(content, list):
        hint = "; an OpenAI-format reply: use openai:MODEL@URL" if isinstance(data, dict) and "choices" in data else ""
        raise FeedlearnError(f"{where}: the reply has no 'content' list (not a Messages API reply{hint})")
    text = "".join(b["text"] for b in content
                   if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str))
    if not text.strip():
        reason = data.get("stop_reason")
        because = f", stop_reason {server_text(reason, 40)!r}" if isinstance(reason, str) else ""
        raise EmptyReply(f"{where}: empty reply (no text in {len(content)} content blocks{because})")
    return text


def _error_message(body: bytes) -> str:
    """The server's error message (``error.message`` of a JSON body, else the body), fit to quote."""
    try:
        message = json.loads(body.decode("utf-8"))["error"]["message"]
    except (ValueError, KeyError, TypeError, IndexError):
        message = body.decode("utf-8", "replace")
    return server_text(message)
