"""Many ICL-AIF runs in parallel (asyncio), each written to ``runs.jsonl`` the moment it finishes.

``run_experiment(config, out_dir)`` plays ``config.runs`` runs of up to ``config.rounds`` rounds with
at most ``config.concurrency`` in flight. Every finished run is one JSON line (its seed, its rounds)
appended and flushed to ``out_dir/runs.jsonl``: a crash or Ctrl-C loses only the runs in flight, and
``resume=True`` skips the run ids already there. Run ``i`` uses seed ``config.seed + i``, which
draws the scripted players' concession steps (``jitter``), the random tips and the backends' seeds.
Players, critic and moderator are backend specs (``backends.make_backend``); LLM replies go through
a shared SQLite cache in ``out_dir`` so a rerun is free and exact.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from feedlearn.bargain.backends.base import Params
from feedlearn.bargain.backends.scripted import RuleModerator, ScriptedNegotiator, ScriptedSpec
from feedlearn.bargain.feedback import run_rounds
from feedlearn.bargain.scenario import Scenario, load_scenario
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str | None = Field(None, description="Scenario YAML (default: the paper's balloon game).")
    runs: int = Field(200, gt=0)
    rounds: int = Field(5, gt=0)
    coach: Literal["seller", "buyer", "both"] = "seller"
    feedback: Literal["ai", "random", "none"] = "ai"
    seed: int = 0
    concurrency: int = Field(32, gt=0)
    temperature: float = Field(0.7, ge=0)
    max_tokens: int = Field(256, gt=0)
    seller: str = Field("scripted:seller", description="Backend spec: openai:MODEL[@URL], anthropic:MODEL, local:DIR, "
                                                       "scripted:seller.")
    buyer: str = Field("scripted:buyer", description="Backend spec of the buyer.")
    critic: str = Field("scripted:critic", description="Backend spec of the critic (feedback=ai).")
    moderator: str = Field("rules", description="rules, or a backend spec for the LLM moderator.")
    cache: bool = Field(True, description="Cache LLM replies in OUT/cache.sqlite: a rerun is free and exact.")
    llm_options: dict[str, float | int] = Field(default_factory=dict, description="For LLM backends: timeout, "
                                                "max_retries, backoff, rate (requests/s).")
    scripted_seller: ScriptedSpec = Field(default_factory=ScriptedSpec, description="How scripted sellers concede "
                                          "(unset fields scale with the scenario).")
    scripted_buyer: ScriptedSpec = Field(default_factory=ScriptedSpec, description="How scripted buyers concede.")


class Backends:
    """The experiment's LLM backends, made once and shared by all runs (one client, one cache)."""

    def __init__(self, config: ExperimentConfig, out: Path) -> None:
        from feedlearn.bargain.backends import make_backend
        from feedlearn.bargain.backends.cache import CachedBackend
        from feedlearn.bargain.moderator import LLMModerator

        cache_path = out / "cache.sqlite"

        def llm(spec: str) -> Any:
            backend = make_backend(spec, **config.llm_options)
            return CachedBackend(backend, cache_path) if config.cache else backend

        self.config = config
        self.shared = {role: llm(getattr(config, role)) for role in ("seller", "buyer")
                       if not getattr(config, role).startswith("scripted:")}
        self.critic = make_backend(config.critic) if config.critic.startswith("scripted:") else llm(config.critic)
        self.moderator = RuleModerator() if config.moderator == "rules" else LLMModerator(llm(config.moderator))

    def players(self, scenario: Scenario, rng: random.Random) -> dict[str, Any]:
        """Per run: the shared LLM players, or fresh scripted ones with this run's jittered steps."""
        specs = {"seller": self.config.scripted_seller, "buyer": self.config.scripted_buyer}
        return {role: self.shared.get(role) or specs[role].build(role, scenario, rng) for role in specs}


def _describe(player: Any) -> Any:
    """What runs.jsonl records of a player: a scripted one's drawn parameters, else its backend name."""
    if isinstance(player, ScriptedNegotiator):
        return {k: v for k, v in asdict(player).items() if k != "terms"}
    return player.name


async def one_run(config: ExperimentConfig, scenario: Scenario, run_id: int, backends: Backends) -> dict[str, Any]:
    seed = config.seed + run_id
    rng = random.Random(seed)
    players = backends.players(scenario, rng)
    params = Params(temperature=config.temperature, max_tokens=config.max_tokens, seed=seed)
    records = await run_rounds(scenario, players, backends.moderator, rounds=config.rounds, coach=config.coach,
                               feedback=config.feedback, critic=backends.critic, params=params, seed=seed)
    return {"run": run_id, "seed": seed,
            "players": {r: _describe(p) for r, p in players.items()},
            "rounds": [asdict(r) for r in records]}


RESUMABLE_CHANGES = ("runs", "concurrency", "llm_options")  # fields a resumed experiment may change


def check_same_experiment(config: ExperimentConfig, saved: Path) -> None:
    """Refuse to resume a run directory with other settings: its runs would mix two experiments."""
    if not saved.exists():
        return
    try:
        before = json.loads(saved.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FeedlearnError(f"{saved}: cannot read the experiment's settings ({exc})") from None
    now = config.model_dump(mode="json")
    for key, value in now.items():
        if key not in RESUMABLE_CHANGES and key in before and before[key] != value:
            raise FeedlearnError(f"{saved}: {key} was {before[key]!r}, now {value!r}; resume with the same "
                                 "settings or choose another --out")


def finished_runs(path: Path) -> dict[int, dict[str, Any]]:
    """Runs already in ``runs.jsonl``, by run id.

    Only the last line may be torn (a crash mid-write leaves it without its newline): it is
    ignored. Any other line that is not a run record is an error naming its line — never skipped
    silently.
    """
    done: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return done
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            done[int(row["run"])] = row
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if number == len(lines) and not text.endswith("\n"):
                break  # the torn last line of a crash
            raise FeedlearnError(f"{path}:{number}: not a run record ({type(exc).__name__}: {exc})") from None
    return done


def drop_torn_line(path: Path) -> None:
    """Cut a torn last line off ``runs.jsonl`` so the next run appended starts on a line of its own.

    Only the last byte is read unless the line is torn (after a crash), when the file is rewritten.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
    text = path.read_text(encoding="utf-8")
    atomic_write_text(path, text[:text.rfind("\n") + 1])


async def run_experiment_async(config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False,
                               on_done: Any = None) -> list[dict[str, Any]]:
    out = Path(out_dir)
    path = out / "runs.jsonl"
    if path.exists() and not resume:
        raise FeedlearnError(f"{path}: exists; pass --resume to continue it or choose another --out")
    scenario = load_scenario(config.scenario) if config.scenario else Scenario()
    if resume:
        check_same_experiment(config, out / "config.json")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", config.model_dump_json(indent=1) + "\n")
    done = finished_runs(path)
    drop_torn_line(path)
    backends = Backends(config, out)
    todo = (i for i in range(config.runs) if i not in done)  # lazily: no list of every run id

    async def worker(handle) -> None:
        # `concurrency` workers share one iterator of run ids (each id is taken once): memory stays
        # O(concurrency) however many runs are asked for, and Ctrl-C cancels a handful of tasks
        for run_id in todo:
            row = await one_run(config, scenario, run_id, backends)
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            done[run_id] = row
            if on_done is not None:
                on_done(row)

    with path.open("a", encoding="utf-8") as handle:
        await asyncio.gather(*(worker(handle) for _ in range(config.concurrency)))
    return [done[i] for i in sorted(done)]


def run_experiment(config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False,
                   on_done: Any = None) -> list[dict[str, Any]]:
    """Blocking wrapper of ``run_experiment_async``; returns every run (old and new), by run id."""
    return asyncio.run(run_experiment_async(config, out_dir, resume=resume, on_done=on_done))
