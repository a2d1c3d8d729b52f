"""One side's view of a game: the chat it saw (as its model is prompted) and what the game was worth to it.

Both the export of played games as training data (``export.py``) and the game reward that plays a
candidate reply out (``game_reward.py``) need the same two things, so they live here:

* ``role_view``: a game's turns as ``role``'s chat — its own lines ``assistant``, the other side's
  ``user``, after its instructions — put in the order every chat server accepts
  (``backends.base.alternating``, as the ``local:`` backend prompts a tuned model at play time), so
  a model learns from exactly the prompts it will be asked. Only the game itself: no earlier games
  and no critic's advice (the point of training on them is to need no advice in context).
* ``outcome_value``: a valid deal is worth its price on the scale of the scenario's range, 0 at the
  role's worst end and 1 at its best (the seller: higher is better, the buyer: lower), so every
  valid deal is worth more than ``NO_DEAL`` (a deal beats no deal, and a deal outside the range is
  no deal).
"""

from __future__ import annotations

from typing import Any

from feedlearn.bargain.backends.base import OPENING_TURN, Message, alternating
from feedlearn.bargain.game import ROLES, heard, system_message
from feedlearn.bargain.scenario import Scenario

NO_DEAL = -1.0  # below every valid deal's value (those lie in [0, 1])

Turns = list[tuple[str, str]]  # (speaker, text), oldest first: a game record's "turns"


def other(role: str) -> str:
    return ROLES[1 - ROLES.index(role)]


def outcome_value(scenario: Scenario, role: str, price: float | None, valid: bool) -> float:
    """What a game's end is worth to ``role``: the deal price scaled to [0, 1] in its favour, or ``NO_DEAL``."""
    if not valid or price is None:
        return NO_DEAL
    share = (price - scenario.buyer_open) / (scenario.seller_ask - scenario.buyer_open)  # 0 at the buyer's opening
    return share if role == "seller" else 1.0 - share


def role_view(scenario: Scenario, role: str, turns: Turns) -> tuple[str, list[Message]]:
    """``(system, messages)``: the game as ``role`` is prompted with it (module docstring)."""
    history = {side: [system_message(scenario, side)] for side in ROLES}
    for speaker, text in turns:
        heard(history, speaker, text)
    messages = alternating(history[role])
    return messages[0]["content"], messages[1:]


def turns_of(messages: list[Message], role: str) -> Turns:
    """The inverse of ``role_view``: a chat of ``role``'s (system messages and the placeholder turn
    ``alternating`` adds before the seller's opening left out) as game turns."""
    chat = [m for m in messages if m["role"] != "system"]
    if chat and chat[0]["role"] == "user" and chat[0]["content"] == OPENING_TURN:
        chat = chat[1:]
    return [(role if m["role"] == "assistant" else other(role), m["content"]) for m in chat]


def value_of(scenario: Scenario, role: str, game: dict[str, Any]) -> float:
    """``outcome_value`` of a recorded game (a round's ``game`` in ``runs.jsonl``)."""
    price = game.get("price")
    return outcome_value(scenario, role, float(price) if isinstance(price, int | float) else None,
                         bool(game.get("deal")) and bool(game.get("valid")))
