"""A bargaining scenario: the product, the numbers, the scripted opening and each role's instructions.

Defaults reproduce the paper's balloon game (Fu et al. 2023): seller's cost $8, asking price $20,
the buyer opens at $10, at most 10 exchanges; a deal is valid only strictly between the buyer's
opening offer and the seller's asking price. Every field can be set in a YAML scenario file
(``load_scenario`` takes a path or a shipped scenario's name: ``feedlearn list scenarios``); the
instruction texts are our own wording, with ``{product}``, ``{cost}``, ``{ask}``, ``{open}`` filled
in (``Scenario.fill``). Every number is checked on load: finite, in range, counts bounded.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from feedlearn.bargain.terms import Term

MAX_SCENARIO_BYTES = 2**20
MAX_PRICE = 1e12  # dollars; far above any deal, far below where float arithmetic gets coarse
# A placeholder: {name}, or a number's {name:g} / {name:.2f} (precision at most two digits)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)(?::(\.[0-9]{1,2})?([fg]))?\}")

# The paper's constraints, in our words: one item, nothing else on the table, one short sentence a turn.
_RULES = (" You bargain over this one {product} only: do not add other items, extras or services beyond the terms "
          "named here. "
          "Reply to the other side with one short sentence; name prices in dollars.")
SELLER_SYSTEM = ("You are selling a {product}. It cost you ${cost:g} and you are asking ${ask:g}. Negotiate with the "
                 "buyer to sell it at the highest price you can." + _RULES)
BUYER_SYSTEM = ("You want to buy a {product}. The seller asks ${ask:g}. Negotiate to buy it at the lowest price you can; "
                "you opened at ${open:g}." + _RULES)
CRITIC_SYSTEM = ("You coach the {role} in a negotiation over a {product}. Read the dialogue and give three short, "
                 "generic suggestions that would get the {role} a better price next time — advice on strategy that "
                 "holds for any game, not on this one's numbers. Do not name a price.")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field("balloon", description="Short name, used in run directories and reports.")
    product: str = Field("balloon", description="What is being sold.")
    seller_cost: float = Field(8.0, ge=0, le=MAX_PRICE, description="What the item cost the seller (private).")
    seller_ask: float = Field(20.0, gt=0, le=MAX_PRICE, description="The seller's asking price.")
    buyer_open: float = Field(10.0, gt=0, le=MAX_PRICE, description="The buyer's opening offer.")
    max_exchanges: int = Field(10, gt=0, le=1000, description="Seller-buyer exchanges before the game ends "
                                                              "without a deal.")
    strict_range: bool = Field(True, description="A deal must lie strictly between buyer_open and seller_ask.")
    opening: list[str] = Field(default_factory=lambda: [
        "This is a good {product} and its price is ${ask:g}.",
        "Would you consider selling it for ${open:g}?",
    ], max_length=20, description="Scripted first utterances, seller first, alternating.")
    buyer_worth: float | None = Field(None, ge=0, le=MAX_PRICE, description="What the item is worth to the buyer "
                                                                          "(private; utilities).")
    terms: list[Term] = Field(default_factory=list, max_length=20, description="Issues besides the price "
                                                                               "(multi-issue deals).")
    seller_system: str = SELLER_SYSTEM
    buyer_system: str = BUYER_SYSTEM
    critic_system: str = CRITIC_SYSTEM

    @model_validator(mode="after")
    def _sane(self):
        if self.buyer_open >= self.seller_ask:
            raise ValueError(f"buyer_open ({self.buyer_open:g}) must be below seller_ask ({self.seller_ask:g})")
        names = [t.name for t in self.terms]
        if len(set(names)) < len(names):
            raise ValueError(f"terms: each needs its own name (got {', '.join(names)})")
        return self

    def fill(self, text: str, **extra: str) -> str:
        """``text`` with ``{product}``, ``{cost}``, ``{ask}``, ``{open}`` (and ``extra``, e.g. ``{role}``) filled in.

        Scenario texts come from files, so they are never format strings: ``str.format`` would let
        ``{product.__class__}`` read attributes and crash on a lone brace. Only those names are
        replaced, numbers with ``:g`` (the default) or ``:.Nf``; every other brace stays as written.
        """
        numbers = {"cost": self.seller_cost, "ask": self.seller_ask, "open": self.buyer_open}
        words = {"product": self.product, **extra}

        def one(m: re.Match) -> str:
            name, precision, kind = m.groups()
            if name in numbers:
                return format(numbers[name], f"{precision or ''}{kind or 'g'}")
            return words[name] if name in words and kind is None else m.group()

        return _PLACEHOLDER.sub(one, text)

    def valid_price(self, price: float | None) -> bool:
        """Whether ``price`` is a valid deal: strictly inside (buyer_open, seller_ask), or inclusive if not strict."""
        if price is None:
            return False
        if self.strict_range:
            return self.buyer_open < price < self.seller_ask
        return self.buyer_open <= price <= self.seller_ask


def load_scenario(path: str | Path) -> Scenario:
    """A scenario from YAML; every mistake is one line naming the file and the field."""
    import yaml
    from pydantic import ValidationError

    from feedlearn.common.errors import FeedlearnError, validation_error
    from feedlearn.common.io import read_text_file
    from feedlearn.shipped import find

    path = find("scenarios", path)  # a file, or a shipped scenario's name (used-bike)
    text = read_text_file(path, "scenario file", MAX_SCENARIO_BYTES)  # a page of YAML; bounded read
    try:
        data = yaml.safe_load(text) or {}
    except RecursionError:
        raise FeedlearnError(f"{path}: not valid YAML (nested too deeply)") from None
    except yaml.YAMLError as exc:
        raise FeedlearnError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:  # a key the scenario has not: pydantic's "Extra inputs are not permitted"
        raise validation_error(str(path), exc, {"": "scenario"}, unknown=None) from None
