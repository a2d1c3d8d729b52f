"""Moderators decide, after an utterance, whether a deal has been reached.

``RuleModerator`` (deterministic: the last utterance accepts) lives with the scripted players;
``LLMModerator`` is the paper's moderator: it shows a model the last few utterances *with speaker
labels* after a few dozen worked examples and asks a yes/no question. Both expose
``async deal_reached(turns) -> bool`` with ``turns`` a list of ``(speaker, text)``, oldest first.

The LLM moderator is asked only after an utterance that could close a deal (``could_close``): one
made only of questions ("How about $14?", "Deal at $15?") is still a negotiation, so the call is
saved. ``could_close`` is permissive on purpose — every closing of the labelled corpus
(``tests/bargain/closing_corpus.jsonl``) passes it — since a closing it skipped would be a lost
deal, while a needless call only costs a few tokens.

The worked examples are ours, in the corpus's styles (a plain "Deal!", a price restated, a price
with no acceptance word, a counter-offer that sounds like agreement, a withdrawal, a question).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from feedlearn.bargain.backends.base import EmptyReply, Params
from feedlearn.bargain.backends.scripted import RuleModerator
from feedlearn.bargain.prices import sentences

# (dialogue as (speaker, text) turns, answer): few-shot examples for the moderator prompt.
EXAMPLES: tuple[tuple[tuple[tuple[str, str], ...], str], ...] = (
    ((("Seller", "I can do $16."), ("Buyer", "Deal!")), "yes"),
    ((("Buyer", "How about $14?"), ("Seller", "I can do $16.")), "no"),
    ((("Seller", "$15 is my final price."), ("Buyer", "That is still too much for me.")), "no"),
    ((("Buyer", "Would $15 work?"), ("Seller", "Alright, $15 it is.")), "yes"),
    ((("Seller", "I could let it go for $17."), ("Buyer", "Okay, $17 then.")), "yes"),
    ((("Buyer", "I can pay $140 for the bike."), ("Seller", "Send me the payment and it's yours.")), "yes"),
    ((("Seller", "My lowest is $13.75."), ("Buyer", "Fine, I'll go with $13.75.")), "yes"),
    ((("Buyer", "Let's meet in the middle?"), ("Seller", "Sure, let's split the difference.")), "yes"),
    ((("Seller", "I can't go under $18."), ("Buyer", "Deal at $16?")), "no"),
    ((("Buyer", "I'll give you $15."), ("Seller", "Sounds good, but could you do $16?")), "no"),
    ((("Seller", "Sixteen fifty and it's yours."), ("Buyer", "You have yourself a deal.")), "yes"),
    ((("Buyer", "How about $12?"), ("Seller", "No, sorry, that's too low.")), "no"),
    ((("Seller", "$1,240 is the best I can do."), ("Buyer", "**Deal!** 🤝 I'll transfer $1,240 today.")), "yes"),
    ((("Buyer", "I'd do $14 if you deliver it."), ("Seller", "Deal, if you pick it up yourself.")), "no"),
    ((("Seller", "Deal at $15!"), ("Buyer", "Actually, wait, I changed my mind. Sorry.")), "no"),
    ((("Buyer", "Can you do $300?"), ("Seller", "Let me think about it and get back to you.")), "no"),
    ((("Seller", "I'll take $90 for the ticket."), ("Buyer", "I'll pay $90. When can we meet?")), "yes"),
    ((("Buyer", "Is $20 okay?"), ("Seller", "That's a great deal at $20? Not for me.")), "no"),
    ((("Seller", "D'accord pour 15 dollars ?"), ("Buyer", "Oui, d'accord, 15 dollars.")), "yes"),
    ((("Buyer", "$500 is my max."), ("Seller", "That's not ideal, I was hoping for $550.")), "no"),
    ((("Seller", "It's $45, final."), ("Buyer", "Fine.")), "yes"),
    ((("Buyer", "You said $20, but would you take $17?"), ("Seller", "Okay, $17 works for me.")), "yes"),
    ((("Seller", "I can sell it for $210."), ("Buyer", "Almost there! How about $200?")), "no"),
    ((("Buyer", "Twelve hundred for the laptop?"), ("Seller", "Twelve hundred sounds fair. It's yours.")), "yes"),
    ((("Seller", "Sorry, it's sold out."), ("Buyer", "Oh well, thanks anyway.")), "no"),
    ((("Buyer", "$16, final offer."), ("Seller", "Let me grab my bag... yes, $16, the balloon is yours 🎈")), "yes"),
    ((("Seller", "I'd accept $18."), ("Buyer", "I'll pay $16.")), "no"),
    ((("Buyer", "Let's say $16."), ("Seller", "I'll pay the shipping myself. $16, agreed.")), "yes"),
)

INSTRUCTIONS = ("You decide whether a buyer and a seller have just agreed on a deal. You see the last messages "
                "of their conversation, oldest first, each with its speaker. Answer with one word: yes if the "
                "last message concludes an agreement on a price (an acceptance, or the price agreed in other "
                "words), no if they are still negotiating, one side refuses, proposes something new, asks a "
                "question, or takes an agreement back.")


def transcript(turns: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    """``Speaker: text`` lines, one per turn (newlines inside a turn become spaces)."""
    return "\n".join(f"{speaker.capitalize()}: {' '.join(text.split())}" for speaker, text in turns)


def moderator_system() -> str:
    """The system message: the instructions and the worked examples."""
    shots = "\n\n".join(f"{transcript(turns)}\nDeal reached? {answer}" for turns, answer in EXAMPLES)
    return f"{INSTRUCTIONS}\n\nExamples:\n\n{shots}"


MODERATOR_SYSTEM = moderator_system()

def could_close(text: str) -> bool:
    """Whether ``text`` could conclude a deal: not when every sentence of it is a question."""
    said = [s.strip() for s in sentences(text) if re.search(r"\w", s)]
    return not said or not all(s.rstrip(" \"')*_~").endswith("?") for s in said)


_ANSWER = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def read_answer(reply: str) -> bool:
    """A model's yes/no ("Yes.", "**yes**", "Answer: no") -> True only for a yes that comes first."""
    m = _ANSWER.search(reply[:200])
    return bool(m) and m.group(1).lower() == "yes"


def default_moderator(seller: str, buyer: str) -> str:
    """``moderator: auto``: the rule moderator for scripted players; with an LLM player, an LLM
    moderator on that player's model (the seller's when both are LLMs), as the paper uses one model."""
    from feedlearn.bargain.backends import is_llm

    for spec in (seller, buyer):
        if is_llm(spec):
            return spec
    return "rules"


@dataclass
class LLMModerator:
    backend: Any
    params: Params = field(default_factory=lambda: Params(temperature=0.0, max_tokens=5))
    name: str = "llm"
    window: int = 3  # the last utterances shown, as in the paper's code
    asked: int = 0  # questions sent (for the record: calls saved by ``could_close``)

    async def deal_reached(self, turns: list[tuple[str, str]]) -> bool:
        if not turns or not could_close(turns[-1][1]):
            return False
        self.asked += 1
        question = f"{transcript(turns[-self.window:])}\nDeal reached?"
        try:
            reply = await self.backend.complete([{"role": "system", "content": MODERATOR_SYSTEM},
                                                 {"role": "user", "content": question}], self.params)
        except EmptyReply:  # no answer is no "yes"
            return False
        return read_answer(reply)


def labelled(dialogue: list[str], last_speaker: str = "buyer") -> list[tuple[str, str]]:
    """An unlabelled dialogue as ``(speaker, text)`` turns, alternating, ending with ``last_speaker``."""
    other = "seller" if last_speaker == "buyer" else "buyer"
    n = len(dialogue)
    return [(last_speaker if (n - 1 - i) % 2 == 0 else other, text) for i, text in enumerate(dialogue)]


async def agreement(moderator: Any, cases: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """How often ``moderator`` says what a labelled closing corpus says, per category.

    ``cases``: ``{"category", "dialogue", "deal"}`` records (``tests/bargain/closing_corpus.jsonl``);
    the closing side is the seller for the ``seller_closes`` category, else the buyer. Returns, per
    category, ``cases``, ``right``, ``false_yes`` (a deal seen where there is none) and ``false_no``.
    """
    table: dict[str, dict[str, int]] = {}
    for case in cases:
        row = table.setdefault(case["category"], {"cases": 0, "right": 0, "false_yes": 0, "false_no": 0})
        closer = "seller" if case["category"] == "seller_closes" else "buyer"
        said = await moderator.deal_reached(labelled(case["dialogue"], closer))
        row["cases"] += 1
        row["right"] += said == case["deal"]
        row["false_yes"] += said and not case["deal"]
        row["false_no"] += case["deal"] and not said
    return table


__all__ = ["agreement", "labelled", "LLMModerator", "RuleModerator", "could_close", "default_moderator",
           "read_answer", "transcript", "MODERATOR_SYSTEM"]
