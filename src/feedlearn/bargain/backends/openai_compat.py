"""Any OpenAI-compatible chat-completions server: OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio.

Built on the official ``openai`` client (``AsyncOpenAI`` with ``base_url``). Its own retries are
switched off so that ours are explicit and tested: 429, 5xx, connection errors and timeouts are
retried ``max_retries`` times with exponential backoff (``backoff · 2^attempt`` seconds, honouring a
``Retry-After`` header), then fail with one line naming the model, the server and the last error.
``rate`` caps requests per second per backend (``retry.RateLimiter``), so 32 concurrent runs do not
burst past an API's limit. Temperature, max_tokens, seed and stop are passed through.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from feedlearn.bargain.backends.base import Message, Params
from feedlearn.bargain.backends.retry import RateLimiter, Retryable, retry_after, with_retries
from feedlearn.common.errors import FeedlearnError


@dataclass
class OpenAICompatible:
    model: str
    base_url: str | None = None  # None: api.openai.com
    api_key: str | None = None  # None: $OPENAI_API_KEY, else "EMPTY" (local servers ignore it)
    timeout: float = 60.0
    max_retries: int = 4
    backoff: float = 1.0
    rate: float | None = None  # requests per second
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"openai:{self.model}"
        self._client: Any = None
        self._limiter = RateLimiter(self.rate)

    def client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            key = self.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
            self._client = AsyncOpenAI(base_url=self.base_url, api_key=key, timeout=self.timeout, max_retries=0)
        return self._client

    async def complete(self, messages: list[Message], params: Params) -> str:
        import openai

        extra: dict[str, Any] = {"temperature": params.temperature, "max_tokens": params.max_tokens}
        if params.seed is not None:
            extra["seed"] = params.seed
        if params.stop:
            extra["stop"] = list(params.stop)
        where = f"{self.name} at {self.base_url or 'api.openai.com'}"

        async def call() -> str:
            try:
                reply = await self.client().chat.completions.create(model=self.model, messages=messages, **extra)
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError,
                    openai.APITimeoutError) as exc:
                response = getattr(exc, "response", None)
                wait = retry_after(response.headers.get("retry-after")) if response is not None else None
                raise Retryable(f"{type(exc).__name__}: {_first_line(exc)}", wait or None) from None
            except openai.APIStatusError as exc:  # 4xx other than 429: retrying will not help
                raise FeedlearnError(f"{where}: HTTP {exc.status_code}: {_first_line(exc)}") from None
            return reply.choices[0].message.content or ""

        return await with_retries(call, where=where, max_retries=self.max_retries, backoff=self.backoff,
                                  limiter=self._limiter)


def _first_line(exc: Exception | None) -> str:
    text = str(exc) if exc is not None else ""
    return text.strip().splitlines()[0] if text.strip() else ""
