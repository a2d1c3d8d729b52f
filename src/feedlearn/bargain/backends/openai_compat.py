"""Any OpenAI-compatible chat-completions server: OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio.

Built on the official ``openai`` client (``AsyncOpenAI`` with ``base_url``). Its own retries are
switched off so that ours are explicit and tested: 429, 5xx, connection errors and timeouts are
retried ``max_retries`` times with exponential backoff (``backoff · 2^attempt`` seconds, honouring a
``Retry-After`` header up to ``max_retry_wait``), then fail with one line naming the model, the
server and the last error. ``rate`` caps requests per second per backend (``retry.RateLimiter``),
so 32 concurrent runs do not burst past an API's limit. Temperature, max_tokens, seed and stop are
passed through.

The reply body is read (at most ``retry.MAX_BODY`` bytes) and checked by us, not by the client,
which turns HTML into a string and ``choices: []`` into an empty list without complaint: anything
but a JSON chat completion whose first choice holds non-empty text is one line naming the server
and what was wrong — never an empty turn played as if the model had said nothing.
"""

from __future__ import annotations

import functools
import importlib
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

DEFAULT_URL = "https://api.openai.com/v1"


@dataclass
class OpenAICompatible(BaseBackend):
    """``openai:MODEL[@URL]``: a chat-completions server (default: api.openai.com); options: ``ClientOptions``."""

    model: str
    base_url: str | None = None  # None: api.openai.com
    api_key: str | None = field(default=None, repr=False)  # None: $OPENAI_API_KEY, else "EMPTY" (local servers)
    options: ClientOptions = field(default_factory=ClientOptions)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"openai:{self.model}"
        # what decides a reply besides messages and params: the reply cache keys on it
        self.identity = f"openai:{self.model}@{(self.base_url or DEFAULT_URL).rstrip('/')}"
        self._client: Any = None
        self._limiter = RateLimiter(self.options.rate)

    @classmethod
    def from_spec(cls, spec: str, api_key: str | None = None, **options: Any) -> OpenAICompatible:
        model, base_url = server_spec(spec)
        return cls(model, base_url=base_url or None, api_key=api_key, options=client_options(spec, options))

    def client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            key = self.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
            self._client = AsyncOpenAI(base_url=self.base_url, api_key=key, timeout=self.options.timeout,
                                       max_retries=0)
        return self._client

    async def complete(self, messages: list[Message], params: Params) -> str:
        import openai

        retry_read, fail_read = _read_errors()

        extra: dict[str, Any] = {"temperature": params.temperature, "max_tokens": params.max_tokens}
        if params.seed is not None:
            extra["seed"] = params.seed
        if params.stop:
            extra["stop"] = list(params.stop)
        where = f"{self.name} at {self.base_url or 'api.openai.com'}"
        turns = alternating(messages)  # strict chat templates refuse anything else (HTTP 400)

        async def call() -> str:
            try:
                async with self.client().chat.completions.with_streaming_response.create(
                        model=self.model, messages=turns, **extra) as response:
                    body = await read_capped(response.iter_bytes(), where)
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError,
                    openai.APITimeoutError) as exc:
                response = getattr(exc, "response", None)
                wait = retry_after(response.headers.get("retry-after")) if response is not None else None
                raise Retryable(f"{type(exc).__name__}: {server_text(exc)}", wait or None) from None
            except retry_read as exc:  # a timeout or dropped connection while reading the body
                raise Retryable(f"{type(exc).__name__}: {server_text(exc)}") from None
            except fail_read as exc:  # e.g. a body that does not decode: another try will not help
                raise FeedlearnError(f"{where}: {type(exc).__name__}: {server_text(exc)}") from None
            except openai.APIStatusError as exc:  # 4xx other than 429: retrying will not help
                raise FeedlearnError(f"{where}: HTTP {exc.status_code}: {server_text(exc)}") from None
            return reply_text(body, where)

        return await with_retries(call, where=where, max_retries=self.options.max_retries,
                                  backoff=self.options.backoff, limiter=self._limiter,
                                  max_wait=self.options.max_retry_wait)


@functools.cache
def _read_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(errors worth another try, other errors) of the HTTP library under the ``openai`` client.

    The client wraps what goes wrong while sending; while we read a streamed body the library's own
    errors come through. openai 3.x runs on ``httpx2``, earlier versions on ``httpx``: both count.
    """
    retry: list[type[Exception]] = []
    fail: list[type[Exception]] = []
    for name in ("httpx", "httpx2"):
        try:
            lib = importlib.import_module(name)
        except ImportError:
            continue
        retry += [lib.TimeoutException, lib.TransportError]
        fail.append(lib.RequestError)
    return tuple(retry), tuple(fail)


def reply_text(body: bytes, where: str) -> str:
    """The text of a chat-completion body, or one line saying how the body is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        start = server_text(body.decode("utf-8", "replace"), 80) if body.strip() else ""
        what = f"starts with {start!r}" if start else "an empty body"
        raise FeedlearnError(f"{where}: the reply is not JSON ({what}); is this an OpenAI-compatible "
                             "/v1 endpoint?") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        raise FeedlearnError(f"{where}: the reply has no 'choices' list (keys: {_keys(data)}); is this an "
                             "OpenAI-compatible /v1 endpoint?")
    if not choices:
        raise FeedlearnError(f"{where}: the reply has no choices ('choices' is empty)")
    first = choices[0] if isinstance(choices[0], dict) else {}
    message = first.get("message") if isinstance(first.get("message"), dict) else {}
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        shown = "null" if content is None else (repr(content) if isinstance(content, str) else type(content).__name__)
        reason = first.get("finish_reason")
        because = f", finish_reason {server_text(reason, 40)!r}" if isinstance(reason, str) else ""
        raise EmptyReply(f"{where}: empty reply (choices[0].message.content is {shown}{because})")
    return content


def _keys(data: Any) -> str:
    if isinstance(data, dict):
        return server_text(", ".join(map(str, list(data)[:8])), 80) or "none"
    return f"a JSON {type(data).__name__}, not an object"
