"""Many ICL-AIF runs in parallel (asyncio), each written to ``runs.jsonl`` the moment it finishes.

``run_experiment(config, out_dir)`` plays ``config.runs`` runs of up to ``config.rounds`` rounds with
at most ``config.concurrency`` in flight. Every finished run is one JSON line (its seed, its rounds)
appended and flushed to ``out_dir/runs.jsonl``: a crash or Ctrl-C loses only the runs in flight, and
``resume=True`` skips the run ids already there. Run ``i`` uses seed ``config.seed + i``, which
draws the scripted players' concession steps (``jitter``), the random tips and the backends' seeds.
Players, critic and moderator are backend specs (``backends.make_backend``), every one built and
asked the same way: ``llm_options`` reach them all, ``seller_options`` / ``buyer_options`` that
player's backend alone, and each player's ``for_run`` gives the run its player (an LLM backend
itself; a scripted negotiator drawn with the run's seed). Replies of LLM backends go through a
shared SQLite cache in ``out_dir`` so a rerun is free and exact.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from feedlearn.bargain.backends.base import MAX_TOKENS, Params
from feedlearn.bargain.backends.retry import ClientOptions
from feedlearn.bargain.backends.scripted import RuleModerator, ScriptedSpec
from feedlearn.bargain.feedback import replayed, run_rounds
from feedlearn.bargain.game import ROLES, GameResult
from feedlearn.bargain.runlog import end_last_line, finished_runs
from feedlearn.bargain.scenario import Scenario, load_scenario
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text, read_text_file
from feedlearn.common.runlock import exclusive

MAX_RUNS = 1_000_000  # every finished run stays in memory (a few KB each) until the experiment ends


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    scenario: str | None = Field(None, description="Scenario YAML (default: the paper's balloon game).")
    runs: int = Field(200, gt=0, le=MAX_RUNS, description="Runs to play (each with its own seed).")
    rounds: int = Field(5, gt=0, le=100, description="Games per run (the paper: 5); each adds to the context.")
    coach: Literal["seller", "buyer", "both"] = "seller"
    feedback: Literal["ai", "human", "constant", "random", "none"] = Field(
        "ai", description="ai (the critic), human (three of ten human-written tips), constant (the same "
                          "encouragement every round), random (one tip) or none.")
    seed: int = Field(0, ge=0, le=2**62, description="Run i uses seed + i (a 64-bit seed for the backends).")
    concurrency: int = Field(32, gt=0, le=1024, description="Runs in flight at once (one asyncio task each).")
    temperature: float = Field(1.0, ge=0, le=2, description="Sampling temperature of the players and critic "
                                                            "(the paper's: the APIs' default, 1.0).")
    max_tokens: int = Field(256, gt=0, le=MAX_TOKENS, description="Longest reply (tokens).")
    seller: str = Field("scripted:seller", description="Backend spec: openai:MODEL[@URL], anthropic:MODEL, local:DIR, "
                                                       "scripted:seller.")
    buyer: str = Field("scripted:buyer", description="Backend spec of the buyer.")
    critic: str = Field("scripted:critic", description="Backend spec of the critic (feedback=ai).")
    moderator: str = Field("auto", description="auto (rules for scripted players; with an LLM player, an LLM "
                                               "moderator on its model), rules, or a backend spec.")
    cache: bool = Field(True, description="Cache LLM replies in OUT/cache.sqlite: a rerun is free and exact.")
    llm_options: ClientOptions = Field(default_factory=ClientOptions, description="For HTTP LLM backends: timeout, "
                                       "max_retries, backoff, max_retry_wait, rate (requests/s).")
    seller_options: dict[str, Any] = Field(default_factory=dict, description="Options of the seller's backend "
                                           "besides llm_options; a scripted seller's: step, jitter, limit, insist "
                                           "(unset ones scale with the scenario).")
    buyer_options: dict[str, Any] = Field(default_factory=dict, description="Options of the buyer's backend.")
    # the names of seller_options / buyer_options in experiments written before them: read, never written
    scripted_seller: ScriptedSpec | None = Field(None, exclude=True, description="Old name of seller_options.")
    scripted_buyer: ScriptedSpec | None = Field(None, exclude=True, description="Old name of buyer_options.")
    paired_with: str | None = Field(None, description="A finished experiment of the same scenario, players and "
                                                      "seed: each run starts from that run's round-1 game, so "
                                                      "arms differ only by their feedback.")

    @model_validator(mode="after")
    def _resolve_moderator(self) -> ExperimentConfig:
        # resolved here, so config.json records the moderator that was used
        if self.moderator == "auto":
            from feedlearn.bargain.moderator import default_moderator

            self.moderator = default_moderator(self.seller, self.buyer)
        return self

    @model_validator(mode="after")
    def _old_names(self) -> ExperimentConfig:
        for role in ROLES:
            old = getattr(self, f"scripted_{role}")
            if old is not None:
                options = moved(getattr(self, role), old.model_dump(), getattr(self, f"{role}_options"))
                setattr(self, f"{role}_options", options)
                setattr(self, f"scripted_{role}", None)
        return self


def moved(spec: str, old: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """A player's options with its old ``scripted_<role>`` settings (the set ones) under them.

    They applied only to scripted players: an LLM player ignored them, and still does.
    """
    from feedlearn.bargain.backends import is_llm

    kept = {} if is_llm(spec) else {k: v for k, v in old.items() if v is not None}
    return {**kept, **options}


def upgraded(settings: dict[str, Any]) -> dict[str, Any]:
    """A saved ``config.json`` in today's names (``scripted_seller`` -> ``seller_options``), to compare with."""
    now = {k: v for k, v in settings.items() if not k.startswith("scripted_")}
    for role in ROLES:
        old = settings.get(f"scripted_{role}")
        if isinstance(old, dict) and isinstance(settings.get(role), str):
            now[f"{role}_options"] = moved(settings[role], old, settings.get(f"{role}_options") or {})
    return now


def make_backends(config: ExperimentConfig) -> dict[str, Any]:
    """Every backend the experiment names, by role, built from its spec: all checked before anything is written."""
    from feedlearn.bargain.backends import make_backend

    shared = config.llm_options.model_dump(exclude_unset=True)
    made = {role: make_backend(getattr(config, role), **{**shared, **getattr(config, f"{role}_options")})
            for role in ROLES}
    made["critic"] = make_backend(config.critic, **shared)
    if config.moderator != "rules":
        made["moderator"] = make_backend(config.moderator, **shared)
    return made


class Backends:
    """The experiment's backends, made once and shared by all runs (one client, one cache per LLM)."""

    def __init__(self, config: ExperimentConfig, made: dict[str, Any], out: Path) -> None:
        from feedlearn.bargain.backends.cache import CachedBackend
        from feedlearn.bargain.moderator import LLMModerator

        cache_path = out / "cache.sqlite"
        self.made = {role: CachedBackend(backend, cache_path) if config.cache and backend.llm else backend
                     for role, backend in made.items()}
        self.critic = self.made["critic"]
        self.moderator = LLMModerator(self.made["moderator"]) if "moderator" in made else RuleModerator()

    def players(self, scenario: Scenario, rng: random.Random) -> dict[str, Any]:
        """Per run: each player backend's ``for_run`` (seller first: the draws from ``rng`` keep their order)."""
        return {role: self.made[role].for_run(scenario, rng) for role in ROLES}


async def one_run(config: ExperimentConfig, scenario: Scenario, run_id: int, backends: Backends,
                  first: GameResult | None = None) -> dict[str, Any]:
    seed = config.seed + run_id
    rng = random.Random(seed)
    players = backends.players(scenario, rng)
    params = Params(temperature=config.temperature, max_tokens=config.max_tokens, seed=seed)
    records = await run_rounds(scenario, players, backends.moderator, rounds=config.rounds, coach=config.coach,
                               feedback=config.feedback, critic=backends.critic, params=params, seed=seed,
                               first=first)
    return {"run": run_id, "seed": seed,
            "players": {r: p.describe() for r, p in players.items()},
            "rounds": [asdict(r) for r in records]}


RESUMABLE_CHANGES = ("runs", "concurrency", "llm_options")  # fields a resumed experiment may change


def saved_settings(saved: Path, hint: str) -> dict[str, Any]:
    """An experiment's ``config.json`` in today's names (``upgraded``), or a one-line error ending with ``hint``."""
    text = read_text_file(saved, "experiment settings file")
    try:
        before = json.loads(text)
    except (ValueError, RecursionError) as exc:  # not JSON, or nested too deeply
        raise FeedlearnError(f"{saved}: cannot read the experiment's settings ({type(exc).__name__}: {exc})") from None
    if not isinstance(before, dict) or not {"runs", "rounds", "feedback", "seller"} <= set(before):
        raise FeedlearnError(f"{saved}: not the settings of a bargain experiment; {hint}")
    return upgraded(before)


def check_same_experiment(config: ExperimentConfig, saved: Path) -> None:
    """Refuse to resume a run directory with other settings: its runs would mix two experiments."""
    if not saved.exists():
        return
    before = saved_settings(saved, "choose another --out")
    now = config.model_dump(mode="json")
    for key, value in now.items():
        if key not in RESUMABLE_CHANGES and key in before and before[key] != value:
            raise FeedlearnError(f"{saved}: {key} was {before[key]!r}, now {value!r}; resume with the same "
                                 "settings or choose another --out")


PAIRED_FIELDS = ("scenario", "seller", "buyer", "seed", "temperature", "max_tokens", "coach")


def first_games(config: ExperimentConfig, scenario: Scenario) -> dict[int, GameResult]:
    """``paired_with``: the round-1 game of each run to be played, from the other experiment's folder.

    Checked before anything is written: the other experiment must share the settings that decide a
    first game (``PAIRED_FIELDS``) and hold every run id this one asks for.
    """
    if not config.paired_with:
        return {}
    other = Path(config.paired_with)
    settings = other / "config.json"
    if not settings.exists():
        raise FeedlearnError(f"{other}: not a bargain experiment folder (no config.json) for paired_with")
    before = saved_settings(settings, "paired_with needs one")
    now = config.model_dump(mode="json")
    for key in PAIRED_FIELDS:
        if before.get(key) != now[key]:
            raise FeedlearnError(f"{settings}: paired_with needs the same {key} (there {before.get(key)!r}, "
                                 f"here {now[key]!r})")
    runs = finished_runs(other / "runs.jsonl")
    missing = [i for i in range(config.runs) if i not in runs]
    if missing:
        raise FeedlearnError(f"{other / 'runs.jsonl'}: paired_with has no run {missing[0]} "
                             f"({len(missing)} of the {config.runs} runs asked for are missing)")
    firsts = {}
    for i in range(config.runs):
        try:
            firsts[i] = replayed(scenario, runs[i]["rounds"][0]["game"])
        except (ValueError, IndexError, KeyError) as exc:
            raise FeedlearnError(f"{other / 'runs.jsonl'}: run {i}: its first game cannot be replayed ({exc})") from None
    return firsts


async def run_experiment_async(config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False,
                               on_done: Any = None) -> list[dict[str, Any]]:
    out = Path(out_dir)
    path, settings = out / "runs.jsonl", out / "config.json"

    def refuse_others_files() -> None:
        for ours in (path, settings) if not resume else ():  # never overwrite a file we did not create
            if ours.exists():
                raise FeedlearnError(f"{ours}: exists; pass --resume to continue it or choose another --out")

    # everything that can be wrong is checked before the first write
    refuse_others_files()
    scenario = load_scenario(config.scenario) if config.scenario else Scenario()
    if resume:
        check_same_experiment(config, settings)
    firsts = first_games(config, scenario)
    made = make_backends(config)
    # one writer: two experiments appending to one runs.jsonl would interleave and duplicate runs
    with exclusive(out, "experiment", "use another --out"):
        refuse_others_files()  # again, now that no one else can write here
        done = finished_runs(path)
        backends = Backends(config, made, out)
        atomic_write_text(settings, config.model_dump_json(indent=1) + "\n")
        end_last_line(path)
        todo = (i for i in range(config.runs) if i not in done)  # lazily: no list of every run id

        async def worker(handle) -> None:
            # `concurrency` workers share one iterator of run ids (each id is taken once): memory stays
            # O(concurrency) however many runs are asked for, and Ctrl-C cancels a handful of tasks
            for run_id in todo:
                row = await one_run(config, scenario, run_id, backends, firsts.get(run_id))
                handle.write(json.dumps(row, allow_nan=False) + "\n")  # NaN/inf never reach the file
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
