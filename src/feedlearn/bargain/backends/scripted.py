"""Deterministic rule-based players: a negotiator, a critic and a moderator that read chat messages.

They stand in for LLMs in tests and the demo, and make the ICL-AIF loop checkable by hand: the
negotiator's concession step shrinks each time its context holds the critic's advice to concede in
smaller steps, so AI feedback provably moves the price.

Negotiator (``role`` seller or buyer): its ``k``-th reply (counting the scripted opening as its
first utterance; only this game's turns count) targets ``start ∓ step·k`` — the seller comes down from ``start`` (the asking
price), the buyer goes up from ``start`` (the opening offer) — never past ``limit``. It accepts
("Deal! $X it is.") when the other side's last price is at least as good as its target, else
offers its target. ``step`` is halved for every message in its context that contains ``ADVICE_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedlearn.bargain.backends.base import Message, Params
from feedlearn.bargain.game import NEW_GAME
from feedlearn.bargain.prices import prices_in

ADVICE_KEY = "smaller steps"
ACCEPT_WORDS = ("deal", "agreed", "i'll take it", "sold", "it's a deal")


def _money(x: float) -> str:
    return f"${x:.2f}".replace(".00", "")


def last_price(text: str) -> float | None:
    found = prices_in(text)
    return found[-1].value if found else None


@dataclass
class ScriptedNegotiator:
    role: str  # "seller" or "buyer"
    start: float  # seller: asking price; buyer: opening offer
    step: float = 2.0
    limit: float | None = None  # seller: lowest price it accepts; buyer: highest
    name: str = "scripted"

    def target(self, messages: list[Message]) -> float:
        starts = [i for i, m in enumerate(messages) if m["role"] == "user" and NEW_GAME in m["content"]]
        turns = sum(m["role"] == "assistant" for m in messages[(starts[-1] if starts else 0):])  # this game's
        lessons = sum(ADVICE_KEY in m["content"] for m in messages if m["role"] != "assistant")
        step = self.step * 0.5 ** lessons
        if self.role == "seller":
            return max(self.start - step * turns, self.limit if self.limit is not None else 0.0)
        return min(self.start + step * turns, self.limit if self.limit is not None else float("inf"))

    async def complete(self, messages: list[Message], params: Params) -> str:
        target = self.target(messages)
        other = last_price(messages[-1]["content"]) if messages and messages[-1]["role"] == "user" else None
        good = other is not None and (other >= target if self.role == "seller" else other <= target)
        if good:
            return f"Deal! {_money(other)} it is."
        return f"I can do {_money(target)}." if self.role == "seller" else f"How about {_money(target)}?"


@dataclass
class ScriptedCritic:
    """Advice for the coached role; the first sentence is what the scripted negotiator acts on."""

    name: str = "scripted-critic"

    async def complete(self, messages: list[Message], params: Params) -> str:
        seller = "seller" in messages[0]["content"].lower() if messages else True
        move = "come down" if seller else "go up"
        return (f"1. Concede in {ADVICE_KEY}: {move} slowly from your last offer. 2. Point out what makes the "
                "item worth it before you move. 3. Let the other side make the next concession.")


@dataclass
class RuleModerator:
    """A deal is reached when the last utterance accepts (an acceptance word) — no LLM needed."""

    name: str = "rules"

    async def deal_reached(self, utterances: list[str]) -> bool:
        last = utterances[-1].lower() if utterances else ""
        return any(word in last for word in ACCEPT_WORDS) and "no deal" not in last
