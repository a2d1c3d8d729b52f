"""A bargaining scenario: the product, the numbers, the scripted opening and each role's instructions.

Defaults reproduce the paper's balloon game (Fu et al. 2023): seller's cost $8, asking price $20,
the buyer opens at $10, at most 10 exchanges; a deal is valid only strictly between the buyer's
opening offer and the seller's asking price. Every field can be set in a YAML scenario file
(``data/bargain/*.yaml``); the instruction texts are our own wording, with ``{product}``,
``{cost}``, ``{ask}``, ``{open}`` filled in.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from feedlearn.bargain.terms import Term

SELLER_SYSTEM = ("You are selling a {product}. It cost you ${cost:g} and you are asking ${ask:g}. Negotiate with the "
                 "buyer to sell it at the highest price you can. Reply with one short message; name prices in dollars.")
BUYER_SYSTEM = ("You want to buy a {product}. The seller asks ${ask:g}. Negotiate to buy it at the lowest price you can; "
                "you opened at ${open:g}. Reply with one short message; name prices in dollars.")
CRITIC_SYSTEM = ("You coach the {role} in a negotiation over a {product}. Read the dialogue and give three short, "
                 "concrete suggestions that would get the {role} a better price next time. Do not name a price.")


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("balloon", description="Short name, used in run directories and reports.")
    product: str = Field("balloon", description="What is being sold.")
    seller_cost: float = Field(8.0, ge=0, description="What the item cost the seller (private to the seller).")
    seller_ask: float = Field(20.0, gt=0, description="The seller's asking price.")
    buyer_open: float = Field(10.0, gt=0, description="The buyer's opening offer.")
    max_exchanges: int = Field(10, gt=0, description="Seller-buyer exchanges before the game ends without a deal.")
    strict_range: bool = Field(True, description="A deal must lie strictly between buyer_open and seller_ask.")
    opening: list[str] = Field(default_factory=lambda: [
        "This is a good {product} and its price is ${ask:g}.",
        "Would you consider selling it for ${open:g}?",
    ], description="Scripted first utterances, seller first, alternating.")
    buyer_worth: float | None = Field(None, description="What the item is worth to the buyer (private; utilities).")
    terms: list[Term] = Field(default_factory=list, description="Issues besides the price (multi-issue deals).")
    seller_system: str = SELLER_SYSTEM
    buyer_system: str = BUYER_SYSTEM
    critic_system: str = CRITIC_SYSTEM

    @model_validator(mode="after")
    def _sane(self):
        if self.buyer_open >= self.seller_ask:
            raise ValueError(f"buyer_open ({self.buyer_open:g}) must be below seller_ask ({self.seller_ask:g})")
        return self

    def fill(self, text: str, **extra: str) -> str:
        return text.format(product=self.product, cost=self.seller_cost, ask=self.seller_ask, open=self.buyer_open,
                           **extra)

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

    from feedlearn.common.errors import FeedlearnError

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise FeedlearnError(f"{path}: cannot read scenario ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise FeedlearnError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "scenario"
        raise FeedlearnError(f"{path}: {where}: {err['msg']}") from None
