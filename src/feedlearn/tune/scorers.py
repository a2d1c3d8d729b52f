"""What scores a sampled reply in the sampling stages: a reward model, or a registered reward by name.

``reward_model`` (of ``raft``, ``iterative_dpo``, ``ppo``, ``grpo``/``rloo``) is a reward model's
directory (``rewards.RewardScorer``, the ``reward`` stage's output) unless it is ``KIND:DETAILS`` with
``KIND`` in ``SCORERS``: then that class builds the scorer from the spec. A scorer has one method,
``score(conversations) -> list[float]`` (each conversation a prompt plus the reply to judge).

Adding a reward = one class with ``from_spec(spec)`` and ``score`` + one line in ``SCORERS``.
``game`` (``bargain.game_reward``) plays the reply out in a bargaining game: a reward by self-play.
"""

from __future__ import annotations

from typing import Any, Protocol

from feedlearn.bargain.game_reward import GameReward
from feedlearn.tune.features import Messages


class Scorer(Protocol):
    def score(self, conversations: list[Messages]) -> list[float]: ...


SCORERS: dict[str, Any] = {
    "game": GameReward,
}


def is_registered(spec: str) -> bool:
    """Whether ``spec`` names a registered reward (``KIND:DETAILS``) rather than a reward model."""
    kind, colon, _ = spec.partition(":")
    return bool(colon) and kind in SCORERS


def make_scorer(spec: str, *, max_length: int = 1024) -> Scorer:
    """The scorer ``spec`` names: a registered ``KIND:DETAILS`` reward, else a reward model's directory."""
    if is_registered(spec):
        return SCORERS[spec.partition(":")[0]].from_spec(spec)
    from feedlearn.tune.rewards import RewardScorer  # torch: only when a reward model is asked for

    return RewardScorer(spec, max_length=max_length)
