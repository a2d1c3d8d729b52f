"""A small OpenAI-compatible server in front of any backend: ``feedlearn bargain serve --model local:DIR``.

It puts a local transformers model (or any backend spec) behind ``/v1/chat/completions`` and
``/v1/models``, so everything that speaks the OpenAI API — our own ``openai:MODEL@URL`` backend,
other tools — can use it, and so CI can run a whole experiment with every role on a real local
model through the same HTTP route a vLLM server takes. ``strict=True`` answers HTTP 400 exactly as
vLLM does for a strict chat template when the roles do not alternate.

Requests are checked like any input: a bounded body (``MAX_BODY``), JSON of the right shape
(pydantic), numbers in range (``Params``); anything else is a 400 with an OpenAI-style error object,
never a traceback. Python's ``http.server`` is used on purpose: a loopback server for one model
needs no web framework, and this adds no dependency to the package.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from feedlearn.bargain.backends.base import MAX_TOKENS, Params
from feedlearn.common.errors import FeedlearnError, validation_error

MAX_BODY = 8 * 2**20  # bytes of one request
ROLES_ERROR = "Conversation roles must alternate user/assistant/user/assistant/..."  # vLLM's words


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "user", "assistant"]
    content: str = Field(..., max_length=MAX_BODY)


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: str = Field(..., max_length=256)
    messages: list[_Message] = Field(..., min_length=1, max_length=10_000)
    temperature: float = Field(1.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=1, le=MAX_TOKENS)
    seed: int | None = Field(None, ge=-2**63, lt=2**63)
    stop: list[str] | str | None = None


def alternates(messages: list[dict[str, str]]) -> bool:
    """What a strict template accepts: an optional system message, then user, assistant, user, ..."""
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    return all(m["role"] == ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(turns))


class ChatServer:
    """Serve ``backend`` (anything with ``async complete(messages, params)``) as model ``name``."""

    def __init__(self, backend: Any, name: str, *, host: str = "127.0.0.1", port: int = 0,
                 strict: bool = False) -> None:
        self.backend, self.name, self.strict = backend, name, strict
        self.requests = 0
        self._loop = asyncio.new_event_loop()  # one loop in its own thread: the backend's calls run there
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.url = f"http://{host}:{self.httpd.server_address[1]}/v1"

    def serve_in_background(self) -> ChatServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._loop.call_soon_threadsafe(self._loop.stop)

    def answer(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request body."""
        try:
            request = _Request.model_validate_json(raw)
        except ValidationError as exc:
            return 400, _error(str(validation_error("request", exc)))
        messages = [m.model_dump() for m in request.messages]
        if self.strict and not alternates(messages):
            return 400, _error(ROLES_ERROR)
        stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
        try:
            params = Params(request.temperature, request.max_tokens, request.seed, stop)
        except FeedlearnError as exc:
            return 400, _error(str(exc))
        self.requests += 1
        future = asyncio.run_coroutine_threadsafe(self.backend.complete(messages, params), self._loop)
        try:
            text = future.result()
        except FeedlearnError as exc:
            return 500, _error(str(exc), "InternalServerError")
        return 200, {"id": f"chatcmpl-{self.requests}", "object": "chat.completion", "created": 0,
                     "model": self.name,
                     "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                     "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # no request log on the terminal
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": server.name, "object": "model"}]})
                else:
                    self._send(404, _error(f"no route {self.path[:100]!r}", "NotFoundError"))

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, _error(f"no route {self.path[:100]!r}", "NotFoundError"))
                    return
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    self._send(411, _error("a Content-Length header is required"))
                    return
                if not 0 <= length <= MAX_BODY:
                    self._send(413, _error(f"the body is over {MAX_BODY:,} bytes"))
                    return
                self._send(*server.answer(self.rfile.read(length)))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _error(message: str, kind: str = "BadRequestError") -> dict[str, Any]:
    """vLLM's error object (OpenAI clients read its ``message``)."""
    return {"object": "error", "message": message, "type": kind, "param": None, "code": None}
