"""Deterministic rule-based players: a negotiator, a critic and a moderator that read chat messages.

They stand in for LLMs in tests and the demo, and make the ICL-AIF loop checkable by hand: the
negotiator's concession step shrinks each time its context holds the critic's advice to concede in
smaller steps, so AI feedback provably moves the price.

Negotiator (``role`` seller or buyer): its ``k``-th reply (counting the scripted opening as its
first utterance; only this game's turns count) targets ``start ∓ step·k`` — the seller comes down
from ``start`` (the asking price), the buyer goes up from ``start`` (the opening offer) — never past
``limit``. It accepts ("Deal! $X it is.") when the other side's last price is at least as good as
its target, else offers its target. ``step`` is halved for every message in its context that
contains ``ADVICE_KEY``. A negotiator that holds (``hold``) concedes nothing once it has named a
price in this game: its target is the last price it named (the game reward's rollout, so a reply is
judged by the price it names; price-only games).

Multi-issue deals (``terms``): the target becomes a *utility* — the target price at the default
terms, plus the player's private value of the terms (``terms.term_value``; it knows only its own
values). A player that insists (``insist``) offers its preferred terms (each term's best bound for
it); otherwise it offers the terms on the table (each term's newest mention in this game) — in
both cases at the price that gives it exactly its target utility (but never past its own opening
price), so extras the other side asks for are priced in at their cost to this side. It accepts
the other side's last price with the terms on the table when that package is worth at least its
target.

``scripted:seller`` / ``scripted:buyer`` (``ScriptedPlayer``, the registry's member) is an ordinary
backend built from its spec; its options are ``ScriptedSpec``'s fields (an experiment's
``seller_options``). Its ``for_run`` hook draws each run's negotiator from the scenario and the
run's seeded generator. ``scripted:critic`` is ``ScriptedCritic``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from feedlearn.bargain import game  # the module, not its names: game imports the backends package
from feedlearn.bargain.backends.base import BaseBackend, Message, Params
from feedlearn.bargain.backends.retry import ClientOptions, client_options
from feedlearn.bargain.prices import prices_in
from feedlearn.bargain.scenario import MAX_PRICE, Scenario
from feedlearn.bargain.terms import Term, agreed_terms, term_value
from feedlearn.common.errors import FeedlearnError, did_you_mean, validation_error

ADVICE_KEY = "smaller steps"
ACCEPT_WORDS = ("deal", "agreed", "i'll take it", "sold", "it's a deal")


def _money(x: float) -> str:
    return f"${x:.2f}".replace(".00", "")


def last_price(text: str) -> float | None:
    """The last price ``text`` names that any scenario could hold (0 to ``MAX_PRICE``): a shouted
    "$9999999999999999" or a 400-digit number is no price."""
    found = [m.value for m in prices_in(text) if 0 <= m.value <= MAX_PRICE]
    return found[-1] if found else None


def this_game(messages: list[Message]) -> list[Message]:
    """The messages of the game being played: after the last lesson that started a new game."""
    starts = [i for i, m in enumerate(messages) if m["role"] == "user" and game.NEW_GAME in m["content"]]
    return [m for m in messages[(starts[-1] + 1 if starts else 0):] if m["role"] != "system"]


@dataclass
class ScriptedNegotiator(BaseBackend):
    role: str  # "seller" or "buyer"
    start: float  # seller: asking price; buyer: opening offer
    step: float = 2.0
    limit: float | None = None  # seller: lowest price it accepts; buyer: highest
    terms: tuple[Term, ...] = ()  # multi-issue deals: the scenario's terms (it reads only its own values)
    insist: bool = False  # offer its preferred terms (else the terms on the table, priced in)
    hold: bool = False  # keep the last price it named in this game instead of conceding
    name: str = "scripted"
    llm: ClassVar[bool] = False

    def describe(self) -> dict[str, Any]:
        """Its drawn parameters (the scenario's terms are in the scenario; ``hold`` only when set)."""
        return {k: v for k, v in asdict(self).items() if k != "terms" and (k != "hold" or v)}

    def target(self, messages: list[Message]) -> float:
        """The price it asks now at the default terms (module docstring)."""
        game_so_far = this_game(messages)
        if self.hold:
            named = [p for m in game_so_far if m["role"] == "assistant" and (p := last_price(m["content"])) is not None]
            if named:
                return named[-1]
        turns = sum(m["role"] == "assistant" for m in game_so_far)
        lessons = sum(ADVICE_KEY in m["content"] for m in messages if m["role"] != "assistant")
        step = self.step * 0.5 ** lessons
        if self.role == "seller":
            return max(self.start - step * turns, self.limit if self.limit is not None else 0.0)
        return min(self.start + step * turns, self.limit if self.limit is not None else float("inf"))

    def utility(self, price: float, agreed: dict[str, float]) -> float:
        """Its own utility of a package, up to a constant: ±price + its value of the terms."""
        return (price if self.role == "seller" else -price) + term_value(list(self.terms), self.role, agreed)

    def price_for(self, utility: float, agreed: dict[str, float]) -> float:
        """The price at which ``agreed`` terms give it ``utility`` (the inverse of ``utility``)."""
        rest = utility - term_value(list(self.terms), self.role, agreed)
        return rest if self.role == "seller" else -rest

    def _with(self, agreed: dict[str, float]) -> str:
        return " with " + ", ".join(t.phrase(agreed[t.name]) for t in self.terms) if self.terms else ""

    async def complete(self, messages: list[Message], params: Params) -> str:
        want = self.utility(self.target(messages), {t.name: t.default for t in self.terms})
        table = agreed_terms(list(self.terms), [m["content"] for m in this_game(messages)])
        other = last_price(messages[-1]["content"]) if messages and messages[-1]["role"] == "user" else None
        if other is not None and self.utility(other, table) >= want:
            return f"Deal! {_money(other)}{self._with(table) or ' it is'}."
        mine = {t.name: t.preferred(self.role) for t in self.terms} if self.insist else table
        price = self.price_for(want, mine)  # never past its own opening: the seller's ask, the buyer's offer
        price = round(min(price, self.start) if self.role == "seller" else max(price, self.start), 2)
        return (f"I can do {_money(price)}{self._with(mine)}." if self.role == "seller"
                else f"How about {_money(price)}{self._with(mine)}?")


class ScriptedSpec(BaseModel):
    """How an experiment makes its scripted players; unset fields scale with the scenario's range.

    With ``span = seller_ask − buyer_open``: step 0.2·span, jitter 0.1·span, the seller's limit
    ``seller_cost + 0.1·span``, the buyer's ``buyer_open + 0.8·span`` — for the paper's balloon (span
    $10) a $2 ± 1 step, limits $9 and $18. In a multi-issue deal the buyer insists on its terms and
    the seller prices them in, unless ``insist`` says otherwise.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    step: float | None = Field(None, gt=0, le=1e12, description="Concession per reply (default 0.2 x (ask - open)).")
    jitter: float | None = Field(None, ge=0, le=1e12, description="Each run draws its step in step ± jitter "
                                                         "(default 0.1 x (ask - open)).")
    limit: float | None = Field(None, ge=0, le=1e12, description="Seller: lowest price; buyer: highest price.")
    insist: bool | None = Field(None, description="Multi-issue: offer its preferred terms (default: the buyer).")
    hold: bool | None = Field(None, description="Keep the last price it named in this game instead of conceding "
                                                "(the game reward's rollout; price-only games).")

    def build(self, role: str, scenario, rng: random.Random | None = None) -> ScriptedNegotiator:
        """The negotiator for ``role`` in ``scenario``; ``rng`` draws the jittered step (none: no jitter)."""
        span = scenario.seller_ask - scenario.buyer_open
        step = self.step if self.step is not None else 0.2 * span
        jitter = self.jitter if self.jitter is not None else 0.1 * span
        if rng is not None and jitter:
            step += rng.uniform(-jitter, jitter)
        if self.limit is not None:
            limit = self.limit
        else:
            limit = scenario.seller_cost + 0.1 * span if role == "seller" else scenario.buyer_open + 0.8 * span
        start = scenario.seller_ask if role == "seller" else scenario.buyer_open
        insist = self.insist if self.insist is not None else role == "buyer"
        return ScriptedNegotiator(role, start=start, step=round(max(step, 0.05), 2), limit=limit,
                                  terms=tuple(scenario.terms), insist=insist, hold=bool(self.hold))


@dataclass
class ScriptedCritic(BaseBackend):
    """Advice for the coached role; the first sentence is what the scripted negotiator acts on."""

    name: str = "scripted-critic"
    llm: ClassVar[bool] = False

    async def complete(self, messages: list[Message], params: Params) -> str:
        seller = "seller" in messages[0]["content"].lower() if messages else True
        move = "come down" if seller else "go up"
        return (f"1. Concede in {ADVICE_KEY}: {move} slowly from your last offer. 2. Point out what makes the "
                "item worth it before you move. 3. Let the other side make the next concession.")


OPTIONS = (*ScriptedSpec.model_fields, *ClientOptions.model_fields)  # an experiment's llm_options reach it too


@dataclass
class ScriptedPlayer(BaseBackend):
    """``scripted:seller`` / ``scripted:buyer`` (options: ``ScriptedSpec``'s) — or ``scripted:critic``.

    Asked directly (``bargain serve``), it is the negotiator of the default scenario, without jitter.
    """

    role: str  # seller or buyer
    spec: ScriptedSpec = field(default_factory=ScriptedSpec)
    name: str = "scripted"
    llm: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._default = self.spec.build(self.role, Scenario())
        self.identity = f"scripted:{self.role}:{self.spec.model_dump_json(exclude_none=True)}"  # a cache key's part

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> BaseBackend:
        role = spec.partition(":")[2]
        if role not in ("seller", "buyer", "critic"):
            raise FeedlearnError(f"scripted backend: say scripted:seller, scripted:buyer or scripted:critic, not {role!r}")
        unknown = [k for k in options if k not in OPTIONS]
        if unknown:
            hint = did_you_mean(unknown[0], list(OPTIONS), list_known=True)
            raise FeedlearnError(f"{spec}: unknown option {unknown[0]!r}{hint}")
        client_options(spec, {k: v for k, v in options.items() if k in ClientOptions.model_fields})  # checked only
        try:
            own = ScriptedSpec.model_validate({k: v for k, v in options.items() if k in ScriptedSpec.model_fields})
        except ValidationError as exc:
            raise validation_error(spec, exc, {k: f"option {k}" for k in ScriptedSpec.model_fields}, show_input=True) from None
        return ScriptedCritic() if role == "critic" else cls(role, own)

    def for_run(self, scenario: Scenario, rng: random.Random | None) -> ScriptedNegotiator:
        """This run's negotiator: numbers from the scenario, its step drawn from ``rng`` (``ScriptedSpec.build``)."""
        return self.spec.build(self.role, scenario, rng)

    async def complete(self, messages: list[Message], params: Params) -> str:
        return await self._default.complete(messages, params)


@dataclass
class RuleModerator:
    """A deal is reached when the last utterance accepts (an acceptance word) — no LLM needed — at the
    other side's last price if it names one: "Deal! $19." after an offer of $18 is a counter-offer
    (else a tuned player would learn to close every game by saying "Deal!" at its own price)."""

    name: str = "rules"

    async def deal_reached(self, turns: list[tuple[str, str]]) -> bool:
        """``turns``: ``(speaker, text)``, oldest first; the last text, and the other side's price before it."""
        if not turns:
            return False
        speaker, text = turns[-1]
        last = text.lower()
        if not any(word in last for word in ACCEPT_WORDS) or "no deal" in last:
            return False
        named = last_price(text)
        offered = next((last_price(t) for s, t in reversed(turns[:-1]) if s != speaker), None)
        return named is None or offered is None or abs(named - offered) < 0.005
