"""A reward by self-play, not by a learned reward model: a candidate reply is played out to the game's end.

``tune``'s sampling stages (``raft``, ``grpo``/``rloo``, ``ppo``, ``iterative_dpo``) score a prompt
and a sampled reply; with ``reward_model: game:seller`` (or ``game:buyer``, or ``game:FILE.yaml``
holding a ``GameRewardConfig``) the score is what the game is worth to that role
(``outcome.outcome_value``: the deal price in [0, 1] in its favour, -1 for no deal) when:

1. the prompt's lines (the role's chat, as ``bargain export`` writes it) are said again as they were,
2. the role says the candidate reply,
3. the game goes on to its end under the usual rules (``game.play``: the moderator after every
   line, at most ``max_exchanges`` exchanges): the other side is ``opponent`` (a backend spec; the
   scripted one by default), the role's later lines are said by ``rollout``: by default the scripted
   player of that role *holding* the last price it named — the candidate's — to the end (accepting
   an offer at least as good), so a reply is judged by the price it names: a higher price the
   opponent comes up to scores more, one it never reaches scores no deal. (A rollout that conceded
   on a fixed schedule, e.g. ``rollout: scripted:seller``, would score every opening offer alike.)

Deterministic for a seed: every game is played with the players an experiment's run with seed
``seed`` would have (``for_run`` with ``random.Random(seed)``, seller first) and that seed in the
sampling parameters, so replies to one prompt are compared against the same opponent.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from feedlearn.bargain.backends.base import Message, Params
from feedlearn.bargain.game import ROLES, GameResult, play
from feedlearn.bargain.outcome import other, outcome_value, turns_of
from feedlearn.bargain.scenario import Scenario, load_scenario
from feedlearn.common.errors import FeedlearnError


class GameRewardConfig(BaseModel):
    """The game a candidate reply is played out in (``reward_model: game:FILE.yaml``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    role: Literal["seller", "buyer"] = Field("seller", description="The side whose replies are scored.")
    scenario: str | None = Field(None, description="Scenario YAML (default: the paper's balloon game).")
    opponent: str | None = Field(None, description="Backend spec of the other side (default: scripted:<other>).")
    opponent_options: dict[str, Any] = Field(default_factory=dict, description="Its options (a scripted "
                                             "player's step, jitter, limit).")
    rollout: str | None = Field(None, description="Backend spec that says the role's later lines (default: "
                                                  "scripted:<role> with hold: true, keeping the candidate's price).")
    rollout_options: dict[str, Any] = Field(default_factory=dict, description="Its options.")
    moderator: str = Field("auto", description="auto (rules for scripted players, else an LLM moderator on the "
                                               "LLM player's model), rules, or a backend spec.")
    seed: int = Field(0, ge=0, le=2**62, description="Draws the scripted players' steps; the backends' seed.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of LLM players.")
    max_tokens: int = Field(256, gt=0, le=131_072, description="Longest reply of an LLM player (tokens).")


@dataclass
class Replayed:
    """A player that first says ``lines`` (the prompt's, then the candidate) and then lets ``then`` play."""

    lines: list[str]
    then: Any
    said: int = 0

    async def complete(self, messages: list[Message], params: Params) -> str:
        if self.said < len(self.lines):
            self.said += 1
            return self.lines[self.said - 1]
        return await self.then.complete(messages, params)


class GameReward:
    """``score(conversations)``: each conversation's last reply played out (module docstring)."""

    def __init__(self, config: GameRewardConfig) -> None:
        from feedlearn.bargain.backends import make_backend
        from feedlearn.bargain.moderator import LLMModerator, RuleModerator, default_moderator

        self.config = config
        self.scenario = load_scenario(config.scenario) if config.scenario else Scenario()
        role = config.role
        rollout = (config.rollout, config.rollout_options) if config.rollout else \
            (f"scripted:{role}", {"hold": True, **config.rollout_options})
        specs = {role: rollout,
                 other(role): (config.opponent or f"scripted:{other(role)}", config.opponent_options)}
        self.backends = {side: make_backend(spec, **options) for side, (spec, options) in specs.items()}
        judge = default_moderator(specs["seller"][0], specs["buyer"][0]) if config.moderator == "auto" \
            else config.moderator
        self.moderator = RuleModerator() if judge == "rules" else LLMModerator(make_backend(judge))
        self.params = Params(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed)

    @classmethod
    def from_spec(cls, spec: str, **_: Any) -> GameReward:
        """``game:seller``, ``game:buyer`` (the defaults for that role) or ``game:FILE.yaml``."""
        from feedlearn.common.config import load_config

        rest = spec.partition(":")[2]
        if rest in ROLES:
            return cls(GameRewardConfig(role=rest))
        if not Path(rest).is_file():
            raise FeedlearnError(f"reward {spec!r}: say game:seller, game:buyer or game:FILE.yaml (an existing "
                                 "file of GameRewardConfig fields)")
        return cls(load_config(GameRewardConfig, rest))

    def lines(self, conversation: list[Message], where: str) -> dict[str, list[str]]:
        """Each side's lines after the scripted opening, in order (the role's candidate reply last)."""
        role = self.config.role
        turns = turns_of(conversation, role)
        if not turns or turns[-1][0] != role:
            raise FeedlearnError(f"{where}: the conversation must end with the {role}'s reply to score")
        opening = [self.scenario.fill(line) for line in self.scenario.opening]
        if [t for _, t in turns[:len(opening)]] != opening:
            raise FeedlearnError(f"{where}: does not start with the scenario's opening ({opening[0][:60]!r}...); "
                                 "is it a game of this scenario, seen by the role this reward scores?")
        return {side: [t for s, t in turns[len(opening):] if s == side] for side in ROLES}

    async def play_out(self, conversation: list[Message], where: str = "conversation") -> GameResult:
        """The game that ``conversation``'s last reply leads to."""
        lines = self.lines(conversation, where)
        rng = random.Random(self.config.seed)  # the players of an experiment's run with this seed
        players = {side: Replayed(lines[side], self.backends[side].for_run(self.scenario, rng)) for side in ROLES}
        return await play(self.scenario, players, self.moderator, params=self.params)

    def value(self, result: GameResult) -> float:
        return outcome_value(self.scenario, self.config.role, result.price, result.success)

    def score(self, conversations: list[list[Message]]) -> list[float]:
        async def all_games() -> list[GameResult]:
            return await asyncio.gather(*(self.play_out(c, f"conversation {i}") for i, c in enumerate(conversations)))

        return [self.value(r) for r in asyncio.run(all_games())]
