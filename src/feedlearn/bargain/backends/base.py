"""The one interface every LLM backend implements: chat messages in, the reply text out (async).

A backend is anything with ``async complete(messages, params) -> str`` — an OpenAI-compatible
server, Anthropic, a local transformers model, or the scripted negotiator used by the tests and the
demo. ``Params`` carries what the paper's runs set per call, checked when made (they come from the
command line and experiment files). A backend may also have ``identity``: everything besides the
messages and params that decides its reply (kind, model, server URL); the reply cache keys on it
(default: ``name``).

The members of the registry (``backends.BACKENDS``) subclass ``BaseBackend``: it names the hooks
the experiment calls on every backend alike — ``from_spec`` (the backend parses its own spec and
checks its options), ``for_run`` (the player of one run), ``describe`` (what ``runs.jsonl``
records of it) and ``llm`` (a language model: its replies are cached, it can moderate) — with the
defaults an LLM wants, so that the experiment never asks which kind of backend it holds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from feedlearn.common.errors import FeedlearnError

if TYPE_CHECKING:
    from feedlearn.bargain.scenario import Scenario


class EmptyReply(FeedlearnError):
    """The model answered with no text: that game ends with this as its reason, the run goes on
    (a server that answers with no reply at all, or not as its API does, is a plain FeedlearnError)."""


Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}

MAX_TOKENS = 131_072  # the longest reply any chat API offers today; a bound, so input cannot ask for more
MAX_STOPS = 16


@dataclass(frozen=True)
class Params:
    temperature: float = 0.7  # in [0, 2] (OpenAI's range; Anthropic's server refuses above 1 itself)
    max_tokens: int = 256  # 1 .. MAX_TOKENS
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or not 0 <= t <= 2:
            raise FeedlearnError(f"temperature: must be a finite number from 0 to 2, not {t!r}")
        n = self.max_tokens
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TOKENS:
            raise FeedlearnError(f"max_tokens: must be a whole number from 1 to {MAX_TOKENS:,}, not {n!r}")
        s = self.seed
        if s is not None and (isinstance(s, bool) or not isinstance(s, int) or not -2**63 <= s < 2**63):
            raise FeedlearnError(f"seed: must be a whole number that fits 64 bits, not {s!r}")
        if len(self.stop) > MAX_STOPS or not all(isinstance(s, str) and s for s in self.stop):
            raise FeedlearnError(f"stop: at most {MAX_STOPS} non-empty strings")


OPENING_TURN = "(The conversation so far.)"


def alternating(messages: list[Message]) -> list[Message]:
    """``messages`` as every chat server accepts them: one system message first (several are joined),
    then turns that alternate user / assistant and start with user.

    Strict chat templates (Mistral, Gemma, Llama-2 families under vLLM or TGI) answer HTTP 400
    "Conversation roles must alternate user/assistant/..." otherwise, and our histories can start
    with the seller's scripted opening (an assistant turn) or hold two user messages in a row (the
    other side's line, then a lesson). Consecutive messages of one role are merged with a blank
    line; a leading assistant turn is preceded by a minimal user turn. Nothing is dropped.
    """
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
        turns.insert(0, {"role": "user", "content": OPENING_TURN})
    return ([{"role": "system", "content": system}] if system else []) + turns


class Backend(Protocol):
    name: str

    async def complete(self, messages: list[Message], params: Params) -> str: ...


class BaseBackend:
    """What every registry member inherits: the experiment's hooks, with the defaults of an LLM backend."""

    name: str
    # a language model: worth a reply cache (a rerun is free and exact), and ``moderator: auto`` may ask it;
    # the scripted players answer instantly and draw their steps per run, so they say False
    llm: ClassVar[bool] = True

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> BaseBackend:
        """The backend ``spec`` names (``kind:details``), ``options`` checked: each mistake one line naming it."""
        raise NotImplementedError

    def for_run(self, scenario: Scenario, rng: random.Random | None) -> Any:
        """The player of one run of ``scenario``: this backend itself (one client, one cache for every run)
        unless the backend draws per run (``rng``: the run's seeded generator; None: no draws)."""
        return self

    def describe(self) -> Any:
        """What ``runs.jsonl`` records of this player."""
        return self.name

    async def complete(self, messages: list[Message], params: Params) -> str:
        raise NotImplementedError


def server_spec(spec: str) -> tuple[str, str]:
    """``KIND:MODEL[@URL]`` as ``(model, url)``, the URL checked now rather than after minutes of retries."""
    kind, _, rest = spec.partition(":")
    model, _, url = rest.partition("@")
    if not model:
        raise FeedlearnError(f"{spec}: no model name (say {kind}:MODEL or {kind}:MODEL@URL)")
    if url:
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
        except ValueError:  # e.g. "http://[::1" or a port that is not a number
            ok = False
        if not ok:
            raise FeedlearnError(f"{spec}: not a server URL {url!r} (say http://HOST:PORT/v1 or https://...)")
    return model, url
