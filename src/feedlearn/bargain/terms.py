"""Multi-issue deals: terms besides the price (delivery days, warranty months, ...) with private values.

A scenario may list ``terms``; each has a unit, the words that name it, a default (what holds if the
deal never mentions it) and what one unit above the default is worth to the seller and to the buyer
— private: each side's instructions show only its own values (``private_notes``). The agreed value
of a term is its last mention (a number followed by one of its words: "5 days", "a 6-month
warranty") in the utterances that closed the deal, newest first. Utilities then score a deal:

* seller: ``price − cost + Σ seller_value · (term − default)``
* buyer: ``worth − price + Σ buyer_value · (term − default)`` (``worth``: the item's private value to
  the buyer; without it only the terms count).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

BOUND = 1e12  # no term value, bound or per-unit value is larger in magnitude (dollars or units)
_Word = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class Term(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(..., min_length=1, max_length=40, description="What is agreed, e.g. delivery.")
    unit: str = Field(..., min_length=1, max_length=40, description="Its unit, e.g. days.")
    # an empty word would make any bare number a mention of the term
    words: list[_Word] = Field(..., min_length=1, max_length=20, description="Words that name the unit after a "
                                                                             "number: day, days.")
    default: float = Field(..., ge=-BOUND, le=BOUND, description="The value if the deal never mentions the term.")
    seller_value: float = Field(..., ge=-BOUND, le=BOUND, description="Seller's utility per unit above the "
                                                                      "default (private).")
    buyer_value: float = Field(..., ge=-BOUND, le=BOUND, description="Buyer's utility per unit above the default "
                                                                     "(private).")
    low: float | None = Field(None, ge=-BOUND, le=BOUND, description="Lowest value a deal may set (scripted "
                                                                     "players ask within it).")
    high: float | None = Field(None, ge=-BOUND, le=BOUND, description="Highest value a deal may set.")

    @model_validator(mode="after")
    def _bounds_hold_the_default(self):
        if (self.low is not None and self.low > self.default) or (self.high is not None and self.high < self.default):
            raise ValueError(f"{self.name}: the default ({self.default:g}) must lie within low..high")
        return self

    def value(self, role: str) -> float:
        """What one unit above the default is worth to ``role`` (its private value)."""
        return self.seller_value if role == "seller" else self.buyer_value

    def preferred(self, role: str) -> float:
        """The bound ``role`` likes best (the default where that bound is not set)."""
        bound = self.high if self.value(role) > 0 else self.low
        return self.default if bound is None else bound

    def phrase(self, value: float) -> str:
        """How a scripted player names the term, in a form ``pattern`` reads back: ``delivery 5 days``."""
        return f"{self.name} {value:g} {self.unit}"

    def pattern(self) -> re.Pattern:
        words = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
        return re.compile(rf"(\d+(?:\.\d+)?)\s*-?\s*(?:{words})\b", re.IGNORECASE)


def agreed_terms(terms: list[Term], utterances: list[str]) -> dict[str, float]:
    """Each term's agreed value: its last mention in ``utterances`` (newest wins), else its default."""
    out = {}
    for term in terms:
        value = term.default
        for text in utterances:  # oldest first: a later mention replaces an earlier one
            # "99...9 days" (400 digits) reads as inf: not a value any deal can set
            found = [v for v in map(float, term.pattern().findall(text)) if math.isfinite(v)]
            if found:
                value = found[-1]
        out[term.name] = value
    return out


def term_value(terms: list[Term], role: str, agreed: dict[str, float]) -> float:
    """``role``'s private utility of the agreed terms against the defaults: ``Σ value · (term − default)``."""
    return sum(t.value(role) * (agreed.get(t.name, t.default) - t.default) for t in terms)


def utilities(scenario: Any, price: float, agreed: dict[str, float]) -> dict[str, float]:
    """Seller's and buyer's utility of a deal (module docstring)."""
    seller = price - scenario.seller_cost + term_value(scenario.terms, "seller", agreed)
    worth = scenario.buyer_worth if scenario.buyer_worth is not None else price
    buyer = worth - price + term_value(scenario.terms, "buyer", agreed)
    return {"seller": seller, "buyer": buyer}


def private_notes(terms: list[Term], role: str) -> str:
    """What ``role`` is told about the terms: the defaults, and only its own values."""
    if not terms:
        return ""
    lines = [f"Besides the price, agree on: {', '.join(f'{t.name} (in {t.unit})' for t in terms)}."]
    for t in terms:
        value = t.value(role)
        direction = "more" if value >= 0 else "fewer"
        lines.append(f"- {t.name}: {t.default:g} {t.unit} unless agreed otherwise; each {t.unit.rstrip('s')} "
                     f"{'more' if value >= 0 else 'less'} is worth ${abs(value):g} to you, so you prefer "
                     f"{direction} {t.unit}. Keep this to yourself.")
    return "\n".join(lines)
