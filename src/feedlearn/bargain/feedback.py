"""ICL-AIF rounds: after each successful game a critic coaches one player; the lessons stay in context.

A run plays up to ``rounds`` games. After a successful round (a valid deal) the coached player's
history keeps that game and gets a user message with the feedback and the price to beat; the
rival starts the next game from a fresh history. The run ends at the first failed round. Feedback
kinds (the paper's comparison): ``ai`` — the critic model reads the coached player's history and
answers with a few generic suggestions; ``human`` — three tips drawn (seeded) from a fixed pool of
ten human-written ones; ``constant`` — the same encouragement every round; ``random`` — one tip;
``none`` — no advice, only the previous game and price. Paired arms: ``first`` replays a recorded
round-1 game (``replayed``) instead of playing one, so every arm continues from the same games.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from feedlearn.bargain.backends.base import EmptyReply, Message, Params
from feedlearn.bargain.game import NEW_GAME, ROLES, GameResult, Turn, heard, play, system_message
from feedlearn.bargain.prices import prices_in
from feedlearn.bargain.scenario import Scenario

TIPS = (  # ten human-written, generic tips, no prices: the paper's human-feedback baseline pool (ours)
    "Open with the strengths of the item before talking about price.",
    "Be polite but firm; do not sound desperate.",
    "Ask the other side what they can offer before you move.",
    "Concede in smaller steps so the other side feels each move matters.",
    "Mention that other people are interested.",
    "Summarise the offer on the table before you answer it.",
    "Do not accept the first offer you hear.",
    "Keep your messages short and clear.",
    "Give a reason each time you hold your price.",
    "Think about why the other side wants this deal, and use it.",
)
HUMAN_TIPS = 3  # ``feedback: human`` gives three distinct tips from the pool per round, as the paper does
# ``feedback: constant``: the same generic encouragement every round, whatever happened (the paper's
# control for "any feedback at all"; our wording)
CONSTANT_FEEDBACK = "Well played. Play again, and try to do better than last time."


@dataclass
class RoundRecord:
    round: int
    success: bool
    deal: bool
    price: float | None
    feedback: str | None  # the advice given after this round (None: none, or the run ended)
    turns: int
    reply_chars: dict[str, float]  # mean reply length per role, in characters
    game: dict[str, Any] = field(default_factory=dict)
    feedback_removed: list[str] = field(default_factory=list)  # critic sentences dropped for naming a price


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_LIST_MARKER = re.compile(r"^(?:\d+[.)]|[-*•])$")


def generic_advice(advice: str) -> tuple[str, list[str]]:
    """The critic's advice without its sentences that name a price, and those sentences.

    The advice must stay generic (the paper: no specific price), or the coached player would just
    be told the answer; a model asked not to name one sometimes does, so we enforce it here.
    A list marker ("2.") that the split cut off stays with its sentence.
    """
    pieces = [p for p in _SENTENCE_END.split(advice.strip()) if p]
    sentences: list[str] = []
    for piece in pieces:
        if sentences and _LIST_MARKER.match(sentences[-1]):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    named = [bool(prices_in(s)) for s in sentences]
    return " ".join(s for s, n in zip(sentences, named) if not n), [s for s, n in zip(sentences, named) if n]


def _reply_chars(result: GameResult) -> dict[str, float]:
    out = {}
    for role in ("seller", "buyer"):
        texts = [t.text for t in result.turns if t.role == role]
        out[role] = sum(map(len, texts)) / max(len(texts), 1)
    return out


def critic_messages(scenario: Scenario, coached: str, history: list[Message]) -> list[Message]:
    """The critic's prompt: its instructions, then the coached player's dialogue as a transcript."""
    lines = [f"{coached if m['role'] == 'assistant' else 'other side'}: {m['content']}"
             for m in history if m["role"] != "system"]
    return [{"role": "system", "content": scenario.fill(scenario.critic_system, role=coached)},
            {"role": "user", "content": "\n".join(lines)}]


async def run_rounds(scenario: Scenario, players: dict[str, Any], moderator: Any, *, rounds: int = 5,
                     coach: Literal["seller", "buyer", "both"] = "seller",
                     feedback: Literal["ai", "human", "constant", "random", "none"] = "ai", critic: Any = None,
                     params: Params = Params(), seed: int = 0, first: GameResult | None = None) -> list[RoundRecord]:
    """One run of up to ``rounds`` games (module docstring); returns a record per game played.

    ``coach="both"``: both players keep their histories and each gets its own advice (no rival).
    """
    if feedback == "ai" and critic is None:
        raise ValueError("feedback='ai' needs a critic backend")
    tips = random.Random(seed)
    coached = ("seller", "buyer") if coach == "both" else (coach,)
    histories: dict[str, list[Message]] = {role: [system_message(scenario, role)] for role in coached}
    records: list[RoundRecord] = []
    for r in range(rounds):
        if r == 0 and first is not None:
            result = first  # a paired arm: the same round-1 game as the arm it is paired with
        else:
            result = await play(scenario, players, moderator, params=params, prefix=histories)
        record = RoundRecord(r, result.success, result.deal, result.price, None, len(result.turns),
                             _reply_chars(result), result.to_json())
        records.append(record)
        if not result.success or r == rounds - 1:
            break
        advice_given = []
        for role in coached:
            history = result.histories[role]
            if feedback == "ai":
                try:
                    raw = await critic.complete(critic_messages(scenario, role, history), params)
                except EmptyReply:  # a critic with nothing to say gives no advice; the run goes on
                    raw = ""
                advice, removed = generic_advice(raw)
                record.feedback_removed += removed
            elif feedback == "human":
                advice = " ".join(tips.sample(TIPS, HUMAN_TIPS))
            elif feedback == "constant":
                advice = CONSTANT_FEEDBACK
            elif feedback == "random":
                advice = tips.choice(TIPS)
            else:
                advice = ""
            advice_given.append(advice)
            lesson = f"Feedback from a coach: {advice}\n" if advice else ""
            histories[role] = history + [{"role": "user", "content": (
                f"That game ended at ${result.price:g}; try to get a better price this time. {lesson}{NEW_GAME}")}]
        record.feedback = " | ".join(a for a in advice_given if a) or None
    return records


def replayed(scenario: Scenario, game: dict[str, Any]) -> GameResult:
    """A recorded first game (``RoundRecord.game``) as the result it was, histories included.

    Each side's history is rebuilt as ``play`` builds it (its instructions, then ``game.heard``
    for every line). Raises ``ValueError`` for a record of another shape.
    """
    turns = game.get("turns")
    if not isinstance(turns, list) or not all(isinstance(t, list) and len(t) == 2 and t[0] in ROLES
                                              and isinstance(t[1], str) for t in turns):
        raise ValueError("game.turns must be a list of [seller|buyer, text] pairs")
    histories = {role: [system_message(scenario, role)] for role in ROLES}
    for role, text in turns:
        heard(histories, role, text)
    price = game.get("price")
    return GameResult([Turn(role, text) for role, text in turns], bool(game.get("deal")),
                      float(price) if isinstance(price, int | float) else None, bool(game.get("valid")), histories,
                      terms=dict(game.get("terms") or {}), utility=dict(game.get("utility") or {}),
                      price_reason=str(game.get("price_reason", "")), end=str(game.get("end", "")))
