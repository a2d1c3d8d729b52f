"""Local HTTP servers on 127.0.0.1 (ephemeral port) that answer as an OpenAI-compatible server (vLLM) and as
the Anthropic Messages API do: with the scripted negotiator's reply to the messages they receive (or, asked
as the moderator or the critic, a yes/no or three suggestions), after a queue of scripted failures (429,
500, 529, a slow reply, 400). Every request is kept (``requests``).

``tests/bargain/test_openai_backend.py`` and the backend contract suite (``test_contract.py`` here) drive
the HTTP backends through them, so nothing leaves the machine and no LLM is needed.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from feedlearn.bargain.backends.base import Params
from feedlearn.bargain.backends.scripted import ACCEPT_WORDS, ADVICE_KEY, ScriptedNegotiator
from feedlearn.bargain.moderator import INSTRUCTIONS

# vLLM's answer when a strict chat template raises (jinja's raise_exception), as its API server sends it
VLLM_ROLES_ERROR = {"object": "error", "message": "Conversation roles must alternate user/assistant/user/assistant/...",
                    "type": "BadRequestError", "param": None, "code": 400}


def strictly_alternating(messages: list[dict]) -> bool:
    """What Mistral's, Gemma's and Llama-2's templates accept: an optional system message first, then
    user, assistant, user, ... (the template's own check)."""
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    return all(m["role"] == ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(turns))


def scripted_answer(messages: list[dict]) -> str:
    """What the server says to ``messages``: as the moderator (its instructions in the system message), yes
    when the dialogue's last line accepts; as the critic, suggestions the scripted players heed; else the
    scripted negotiator's reply for the role the system message gives."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    if system.startswith(INSTRUCTIONS[:60]):
        lines = re.findall(r"^(?:Buyer|Seller): (.*)$", messages[-1]["content"], flags=re.M)
        last = lines[-1].lower() if lines else ""
        return "Yes." if any(w in last for w in ACCEPT_WORDS) and "no deal" not in last else "No."
    if system.startswith("You coach the"):
        return f"1. Take {ADVICE_KEY} when you concede. 2. Hold firm early. 3. Explain the value."
    role = "seller" if "selling" in system else "buyer"
    return asyncio.run(ScriptedNegotiator(role, start=20 if role == "seller" else 10).complete(messages, Params()))


class Server:
    def __init__(self) -> None:
        self.failures: list[tuple[int, float]] = []  # (status, delay) served before normal answers
        self.requests: list[dict] = []
        self.fail_after: int | None = None  # from this many requests on, every answer is a 500
        self.strict = False  # answer like vLLM serving a strict chat template (Mistral, Gemma, Llama-2)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                status, delay = server.failures.pop(0) if server.failures else (200, 0.0)
                if server.fail_after is not None and len(server.requests) > server.fail_after:
                    status = 500
                if server.strict and not strictly_alternating(body["messages"]):
                    self._send(400, VLLM_ROLES_ERROR)
                    return
                time.sleep(delay)
                if status != 200:
                    self._send(status, {"error": {"message": f"scripted failure {status}"}}, {"Retry-After": "0"})
                    return
                reply = scripted_answer(body["messages"])
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": reply}}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()


class AnthropicServer(Server):
    """The same scripted server, speaking the Messages API at /v1/messages."""

    def __init__(self) -> None:
        super().__init__()
        server = self
        base = self.httpd.RequestHandlerClass

        class Handler(base):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({**body, "_headers": dict(self.headers)})
                status, _ = server.failures.pop(0) if server.failures else (200, 0.0)
                if status != 200:
                    self._send(status, {"error": {"type": "x", "message": f"scripted failure {status}"}},
                               {"Retry-After": "0"})
                    return
                reply = scripted_answer([{"role": "system", "content": body.get("system", "")}, *body["messages"]])
                self._send(200, {"content": [{"type": "text", "text": reply}], "role": "assistant"})

        self.httpd.RequestHandlerClass = Handler
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
