"""Played games -> LMFlow training data for one role (``feedlearn bargain export``), so the critic's
lessons can be learned in the weights instead of carried in the context.

Every game of every round of every run in the given experiment folders (``config.json`` +
``runs.jsonl``) is read as ``role`` saw it (``outcome.role_view``: its instructions and that game
only — the earlier games and the critic's advice that were in its context are *not* exported) and
valued by its outcome for ``role`` (``outcome.outcome_value``). Three files are written to ``out``:

* ``conversation.json`` (``sft``, or RAFT-style best-of-K): the successful games, per opening
  (instructions + the scripted opening lines) the ``best_of`` most valuable ones (all when 0),
  best first; each ends with ``role``'s last line.
* ``paired.json`` (``paired_conversation``, for ``dpo``): for each dialogue prefix at which ``role``
  spoke in several games with different replies, its replies ranked by the mean value of the games
  they led to, then paired best with worst, second best with second worst, ... (pairs of equal
  value are left out): the reply that led to the better outcome is ``chosen``, the other
  ``rejected``, both after the same prefix.
* ``prompts.json`` (``conversation``, the prompts of ``raft`` / ``grpo`` / ``ppo`` with the ``game``
  reward): every distinct prefix at which ``role`` replied, ending with its best recorded reply.

The scripted opening lines are never a reply to learn a choice from: prefixes start after them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from feedlearn.bargain.experiment import saved_settings
from feedlearn.bargain.game import ROLES
from feedlearn.bargain.outcome import Turns, role_view, value_of
from feedlearn.bargain.runlog import finished_runs
from feedlearn.bargain.scenario import Scenario, load_scenario
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text
from feedlearn.tune.data import TuneDataset, load_dataset, save_dataset

FILES = {"conversation": "conversation.json", "paired_conversation": "paired.json", "prompts": "prompts.json"}


@dataclass
class Game:
    """One recorded game: where it was played, its turns, and its value for the exported role."""

    scenario: Scenario
    turns: Turns
    value: float
    where: str  # "DIR/runs.jsonl run R round N", for messages


def _scenario(run_dir: Path, settings: dict[str, Any], override: str | Path | None) -> Scenario:
    name = override if override is not None else settings.get("scenario")
    if not name:
        return Scenario()
    if not Path(name).exists():
        raise FeedlearnError(f"{run_dir / 'config.json'}: scenario {str(name)!r} not found from here; "
                             "pass --scenario with its file")
    return load_scenario(name)


def read_games(run_dirs: list[str | Path], role: str, scenario: str | Path | None = None,
               rounds: int | None = None) -> list[Game]:
    """Every game in ``run_dirs`` (in file order; of each run the first ``rounds`` when given), valued for
    ``role``; ``scenario`` overrides the recorded one."""
    if role not in ROLES:
        raise FeedlearnError(f"role: say seller or buyer, not {role!r}")
    games: list[Game] = []
    for run_dir in map(Path, run_dirs):
        if not (run_dir / "config.json").exists():
            raise FeedlearnError(f"{run_dir}: not a bargain experiment folder (no config.json)")
        game_scenario = _scenario(run_dir, saved_settings(run_dir / "config.json", "export needs one"), scenario)
        for run_id, run in finished_runs(run_dir / "runs.jsonl").items():
            for number, record in enumerate(run["rounds"][:rounds], 1):
                where = f"{run_dir / 'runs.jsonl'} run {run_id} round {number}"
                raw = record.get("game", {}).get("turns")
                if not isinstance(raw, list) or not all(isinstance(t, list) and len(t) == 2 and t[0] in ROLES
                                                        and isinstance(t[1], str) and t[1].strip() for t in raw):
                    raise FeedlearnError(f"{where}: game.turns must be a list of [seller|buyer, text] pairs")
                games.append(Game(game_scenario, [(s, t) for s, t in raw], value_of(game_scenario, role,
                                                                                   record["game"]), where))
    return games


def _until_own_last(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages up to the role's last line (a conversation ends with the assistant)."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[: last + 1]


def _conversation(scenario: Scenario, role: str, turns: Turns) -> dict[str, Any]:
    system, messages = role_view(scenario, role, turns)
    return {"system": system, "messages": _until_own_last(messages)}


def best_games(games: list[Game], role: str, best_of: int = 0) -> list[dict[str, Any]]:
    """``conversation`` instances of the successful games, the ``best_of`` best per opening (0: all), best first."""
    per_opening: dict[tuple, list[Game]] = defaultdict(list)
    for g in games:
        if g.value >= 0:  # a valid deal
            per_opening[(g.scenario.model_dump_json(), tuple(g.turns[:len(g.scenario.opening)]))].append(g)
    out = []
    for group in per_opening.values():
        ranked = sorted(group, key=lambda g: -g.value)  # stable: equal values keep file order
        out += [_conversation(g.scenario, role, g.turns) for g in ranked[:best_of or None]]
    return out


def _replies(games: list[Game], role: str) -> dict[tuple, dict[str, list[float]]]:
    """Per prefix (scenario, turns before a reply of ``role``): each reply said there -> the values it led to."""
    at: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for g in games:
        for i in range(len(g.scenario.opening), len(g.turns)):
            speaker, text = g.turns[i]
            if speaker == role:
                at[(g.scenario.model_dump_json(), tuple(g.turns[:i]))][text].append(g.value)
    return at


def pairs(games: list[Game], role: str) -> list[dict[str, Any]]:
    """``paired_conversation`` instances: per prefix, replies ranked by mean value, folded best-vs-worst."""
    scenarios = {g.scenario.model_dump_json(): g.scenario for g in games}
    out = []
    for (key, prefix), replies in _replies(games, role).items():
        ranked = sorted(replies, key=lambda text: -mean(replies[text]))  # stable: first said first on ties
        for better, worse in zip(ranked, reversed(ranked[len(ranked) - len(ranked) // 2:])):
            if mean(replies[better]) > mean(replies[worse]):
                out.append({side: _conversation(scenarios[key], role, [*prefix, (role, text)])
                            for side, text in (("chosen", better), ("rejected", worse))})
    return out


def prompts(games: list[Game], role: str) -> list[dict[str, Any]]:
    """``conversation`` instances: every prefix at which ``role`` replied, with its best recorded reply."""
    scenarios = {g.scenario.model_dump_json(): g.scenario for g in games}
    return [_conversation(scenarios[key], role, [*prefix, (role, max(replies, key=lambda t: mean(replies[t])))])
            for (key, prefix), replies in _replies(games, role).items()]


def export_runs(run_dirs: list[str | Path], out: str | Path, role: str, *, best_of: int = 0,
                scenario: str | Path | None = None, rounds: int | None = None) -> dict[str, Any]:
    """Write the three datasets of ``role`` (module docstring) to ``out``; returns what was written.

    ``rounds``: only the first ``rounds`` games of each run (1: the games played without advice).

    Each file is read back with ``tune.data.load_dataset`` before this returns, so what ``tune``
    trains on is checked here.
    """
    if isinstance(best_of, bool) or not isinstance(best_of, int) or best_of < 0:
        raise FeedlearnError(f"best_of (--best-of): a whole number >= 0 (0: every successful game), not {best_of!r}")
    if rounds is not None and (isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1):
        raise FeedlearnError(f"rounds: a whole number >= 1 (the first games of each run), not {rounds!r}")
    games = read_games(run_dirs, role, scenario, rounds)
    made = {"conversation": best_games(games, role, best_of), "paired_conversation": pairs(games, role),
            "prompts": prompts(games, role)}
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"role": role, "games": len(games), "successful": sum(g.value >= 0 for g in games)}
    for kind, instances in made.items():
        path = folder / FILES[kind]
        if not instances:
            path.unlink(missing_ok=True)  # no stale file from an earlier export
            summary[kind] = 0
            continue
        dtype = "paired_conversation" if kind == "paired_conversation" else "conversation"
        save_dataset(TuneDataset(dtype, instances), path)
        summary[kind] = len(load_dataset(path, type=dtype))
    atomic_write_text(folder / "export.json", json.dumps(summary, indent=1) + "\n")
    return summary
