"""One bargaining game: the turn loop, each role's own chat history, the moderator, the deal price.

Seller and buyer each keep their own history: their own utterances are ``assistant`` messages, the
other side's arrive as ``user`` messages, after their system instructions (and, for a coached
player, the earlier games and the critic's advice — passed in as ``prefix``). The scripted opening
is said first (seller, then buyer); then they alternate, seller first, for at most
``max_exchanges`` exchanges. After every utterance the moderator decides whether a deal was
reached; the moderator decides *whether*, and the price is the one on the table in the last
utterances (``prices.price_on_table``: the last price offered and not withdrawn, with or without an
acceptance phrase), valid only inside the scenario's range. ``price_reason`` says why a deal the
moderator saw has no valid price (none named, withdrawn, out of range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feedlearn.bargain.backends.base import EmptyReply, Message, Params
from feedlearn.bargain.prices import price_on_table
from feedlearn.bargain.scenario import MAX_PRICE, Scenario
from feedlearn.bargain.terms import agreed_terms, private_notes, utilities

ROLES = ("seller", "buyer")
NEW_GAME = "A new game starts now."  # ends the lesson message that precedes a coached player's next game


@dataclass
class Turn:
    role: str
    text: str


@dataclass
class GameResult:
    turns: list[Turn]
    deal: bool  # the moderator saw an agreement
    price: float | None  # the parsed deal price (None: no deal, or none could be parsed)
    valid: bool  # a deal at a price inside the scenario's range
    histories: dict[str, list[Message]] = field(default_factory=dict)  # each role's messages, for the next round
    terms: dict[str, float] = field(default_factory=dict)  # multi-issue deals: the agreed terms
    utility: dict[str, float] = field(default_factory=dict)  # multi-issue deals: each side's utility
    price_reason: str = ""  # a deal: "read", "no price", "withdrawn", "out of range" (of the scenario) or "ambiguous"
    end: str = ""  # how the game ended: "deal", "no deal after N exchanges", or a player's unusable reply

    @property
    def success(self) -> bool:
        return self.deal and self.valid

    def to_json(self) -> dict[str, Any]:
        out = {"turns": [[t.role, t.text] for t in self.turns], "deal": self.deal, "price": self.price,
               "valid": self.valid}
        if self.deal:
            out["price_reason"] = self.price_reason
        if self.end:
            out["end"] = self.end
        return {**out, "terms": self.terms, "utility": self.utility} if self.terms else out


def system_message(scenario: Scenario, role: str) -> Message:
    text = scenario.fill(scenario.seller_system if role == "seller" else scenario.buyer_system)
    notes = private_notes(scenario.terms, role)
    return {"role": "system", "content": f"{text}\n{notes}" if notes else text}


def heard(histories: dict[str, list[Message]], role: str, text: str) -> None:
    """``role`` said ``text``: its own history gets it as ``assistant``, the other side's as ``user``."""
    for side in ROLES:
        histories[side].append({"role": "assistant" if side == role else "user", "content": text})


async def play(scenario: Scenario, players: dict[str, Any], moderator: Any, *, params: Params = Params(),
               prefix: dict[str, list[Message]] | None = None, on_turn: Any = None) -> GameResult:
    """Play one game; ``players`` maps seller/buyer to backends, ``prefix`` gives a role's history so far.

    ``on_turn(role, text)`` sees every utterance as it is said (``bargain play`` streams them).
    """
    histories = {r: list((prefix or {}).get(r) or [system_message(scenario, r)]) for r in ROLES}
    turns: list[Turn] = []

    def say(role: str, text: str) -> None:
        turns.append(Turn(role, text))
        if on_turn is not None:
            on_turn(role, text)
        heard(histories, role, text)

    for i, line in enumerate(scenario.opening):
        say(ROLES[i % 2], scenario.fill(line))
    first = ROLES[len(scenario.opening) % 2]
    order = [first, ROLES[1 - ROLES.index(first)]]
    def no_deal(why: str) -> GameResult:
        return GameResult(turns, False, None, False, histories, end=why)

    for _ in range(scenario.max_exchanges):
        for role in order:
            try:
                text = (await players[role].complete(histories[role], params)).strip()
            except EmptyReply as exc:  # the model said nothing: this game ends, the run goes on
                return no_deal(f"empty reply from the {role} ({exc})")
            if not text:
                return no_deal(f"empty reply from the {role}")
            if len(text) > max_reply_chars(params):  # a server that ignored max_tokens: not played on
                return no_deal(f"reply too long from the {role} ({len(text):,} characters)")
            say(role, text)
            utterances = [t.text for t in turns]
            if await moderator.deal_reached([(t.role, t.text) for t in turns[-3:]]):
                # a price beyond any scenario's range is no price (and would overflow the report's statistics)
                reading = price_on_table(utterances[-4:], low=0.0, high=MAX_PRICE, hint=scenario.seller_ask)
                price, valid = reading.price, scenario.valid_price(reading.price)
                reason = "out of range" if reading.reason == "read" and not valid else reading.reason
                result = GameResult(turns, True, price, valid, histories, price_reason=reason, end="deal")
                if scenario.terms:
                    result.terms = agreed_terms(scenario.terms, utterances[-4:])
                    result.utility = utilities(scenario, price, result.terms) if price is not None else {}
                return result
    return no_deal(f"no deal after {scenario.max_exchanges} exchanges")


def max_reply_chars(params: Params) -> int:
    """The longest reply a game plays on: ~16 characters per allowed token (a token is ~4), at least 4,000."""
    return max(4_000, 16 * params.max_tokens)
