"""Anthropic's Messages API over httpx: the system prompt as a top-level field, alternating roles merged.

The Messages API takes ``system`` apart from the turns and wants turns that alternate user /
assistant, starting with user; ``to_anthropic`` converts our chat messages (several system
messages joined, consecutive same-role messages merged with a blank line, a leading assistant turn
preceded by a minimal user turn). Retries, backoff, Retry-After and rate limiting: ``retry.py``,
shared with the OpenAI-compatible backend. Uses ``httpx`` directly (already a dependency via ``openai``), so no
extra SDK is needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from feedlearn.bargain.backends.base import Message, Params
from feedlearn.bargain.backends.retry import RateLimiter, Retryable, retry_after, with_retries
from feedlearn.common.errors import FeedlearnError

API_VERSION = "2023-06-01"
RETRY_STATUS = {429, 500, 502, 503, 504, 529}  # 529: Anthropic's "overloaded"


def to_anthropic(messages: list[Message]) -> tuple[str, list[Message]]:
    """``(system, turns)`` in the Messages API's shape (module docstring)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns: list[Message] = []
    for m in messages:
        if m["role"] == "system":
            continue
        if turns and turns[-1]["role"] == m["role"]:
            turns[-1] = {"role": m["role"], "content": turns[-1]["content"] + "\n\n" + m["content"]}
        else:
            turns.append({"role": m["role"], "content": m["content"]})
    if turns and turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": "(The conversation so far.)"})
    return system, turns


@dataclass
class AnthropicMessages:
    model: str
    base_url: str = "https://api.anthropic.com"
    api_key: str | None = None  # None: $ANTHROPIC_API_KEY
    timeout: float = 60.0
    max_retries: int = 4
    backoff: float = 1.0
    rate: float | None = None
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"anthropic:{self.model}"
        self._limiter = RateLimiter(self.rate)

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
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as client:

            async def call() -> str:
                try:
                    response = await client.post("/v1/messages", json=body, headers=headers)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    raise Retryable(f"{type(exc).__name__}: {exc}".strip()) from None
                if response.status_code == 200:
                    return "".join(b.get("text", "") for b in response.json().get("content", [])
                                   if b.get("type") == "text")
                message = _error_message(response)
                if response.status_code not in RETRY_STATUS:
                    raise FeedlearnError(f"{where}: HTTP {response.status_code}: {message}")
                raise Retryable(f"HTTP {response.status_code}: {message}", retry_after(response.headers.get("retry-after")))

            return await with_retries(call, where=where, max_retries=self.max_retries, backoff=self.backoff,
                                      limiter=self._limiter)


def _error_message(response: Any) -> str:
    try:
        return str(response.json().get("error", {}).get("message", "")).splitlines()[0]
    except (ValueError, AttributeError, IndexError):
        return response.text[:200]
