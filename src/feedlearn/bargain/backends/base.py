"""The one interface every LLM backend implements: chat messages in, the reply text out (async).

A backend is anything with ``async complete(messages, params) -> str`` — an OpenAI-compatible
server, Anthropic, a local transformers model, or the scripted negotiator used by the tests and the
demo. ``Params`` carries what the paper's runs set per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


@dataclass(frozen=True)
class Params:
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = ()


class Backend(Protocol):
    name: str

    async def complete(self, messages: list[Message], params: Params) -> str: ...
