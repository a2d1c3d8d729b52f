"""Moderators decide, after every utterance, whether a deal has been reached.

``RuleModerator`` (deterministic: the last utterance accepts) lives with the scripted players;
``LLMModerator`` asks a model a yes/no question with worked examples, as the paper does, reading
only the last few utterances. Both expose ``async deal_reached(utterances) -> bool``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feedlearn.bargain.backends.base import Params
from feedlearn.bargain.backends.scripted import RuleModerator

MODERATOR_SYSTEM = """You decide whether a buyer and a seller have just agreed on a deal. Read the last \
messages of their conversation (oldest first) and answer with one word: yes or no.

Examples:
- I can do $16.
- Deal!
-> yes

- How about $14?
- I can do $16.
-> no

- $15 is my final price.
- That is still too much for me.
-> no

- Alright, $15 it is.
-> yes"""


@dataclass
class LLMModerator:
    backend: Any
    params: Params = field(default_factory=lambda: Params(temperature=0.0, max_tokens=3))
    name: str = "llm"

    async def deal_reached(self, utterances: list[str]) -> bool:
        lines = "\n".join(f"- {text}" for text in utterances)
        reply = await self.backend.complete([{"role": "system", "content": MODERATOR_SYSTEM},
                                             {"role": "user", "content": lines + "\nDeal reached?"}], self.params)
        return reply.strip().lower().startswith("yes")


__all__ = ["LLMModerator", "RuleModerator"]
