"""ICL-AIF engine overhead and concurrency: games/s with an instant backend; wall time with a slow one.

1. Scripted players answer instantly, so games/s measures the engine itself (turn loop, histories,
   price parsing, moderator, feedback rounds). Target: >= 1,000 games/s on one core.
2. The same players behind 200 ms of simulated latency per reply: with enough concurrency, N runs
   take about as long as ONE run's replies in sequence (turns per run x 200 ms), not N times that.
   Printed as the ratio of the measured wall time to that ideal.

    python bench/bargain_overhead.py [--runs 200] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from feedlearn.bargain.backends.base import BaseBackend
from feedlearn.bargain.backends.scripted import RuleModerator, ScriptedCritic, ScriptedNegotiator
from feedlearn.bargain.feedback import run_rounds
from feedlearn.bargain.scenario import Scenario


class Slow(BaseBackend):
    """A backend wrapper adding a fixed latency per reply (an API call's round trip)."""

    def __init__(self, inner, latency: float) -> None:
        self.inner, self.latency, self.name = inner, latency, f"slow-{inner.name}"

    async def complete(self, messages, params):
        await asyncio.sleep(self.latency)
        return await self.inner.complete(messages, params)


def players(latency: float = 0.0):
    seller, buyer = ScriptedNegotiator("seller", 20, 2.0, 9), ScriptedNegotiator("buyer", 10, 2.0, 18)
    if latency:
        return {"seller": Slow(seller, latency), "buyer": Slow(buyer, latency)}, Slow(ScriptedCritic(), latency)
    return {"seller": seller, "buyer": buyer}, ScriptedCritic()


async def many(runs: int, latency: float, concurrency: int) -> tuple[int, int]:
    """Play ``runs`` runs of 5 rounds; returns (games played, replies in the longest run)."""
    gate = asyncio.Semaphore(concurrency)

    async def one():
        ps, critic = players(latency)
        async with gate:
            return await run_rounds(Scenario(), ps, RuleModerator(), rounds=5, feedback="ai", critic=critic)

    results = await asyncio.gather(*(one() for _ in range(runs)))
    games = sum(len(r) for r in results)
    return games, max(replies([vars(rec) for rec in r]) for r in results)


def replies(rounds: list[dict]) -> int:
    """Sequential replies of one run: the non-scripted turns of every game plus one critic call per advice."""
    return sum(rec["turns"] - 2 for rec in rounds) + sum(rec["feedback"] is not None for rec in rounds)


def experiment(runs: int, latency: float) -> tuple[int, int]:
    """The same runs through ``run_experiment`` (what ``bargain run`` does: worker pool, JSONL as runs
    finish), the players and critic behind ``latency`` as one shared backend each, like an API."""
    import tempfile

    from feedlearn.bargain.backends import BACKENDS
    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment

    made = {"seller": ScriptedNegotiator("seller", 20, 2.0, 9), "buyer": ScriptedNegotiator("buyer", 10, 2.0, 18),
            "critic": ScriptedCritic()}

    class SlowScripted(Slow):  # registered as the README says: "slow:seller" -> the seller behind latency
        @classmethod
        def from_spec(cls, spec: str, **options) -> Slow:
            return Slow(made[spec.partition(":")[2]], latency)

    BACKENDS["slow"] = SlowScripted
    config = ExperimentConfig(runs=runs, rounds=5, feedback="ai", concurrency=runs, seller="slow:seller",
                              buyer="slow:buyer", critic="slow:critic", cache=False)
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_experiment(config, tmp)
    return sum(len(r["rounds"]) for r in rows), max(replies(r["rounds"]) for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    started = time.perf_counter()
    games, _ = asyncio.run(many(args.runs * 5, 0.0, 1024))
    seconds = time.perf_counter() - started
    print(f"engine: {games:,} games in {seconds:.2f} s = {games / seconds:,.0f} games/s on one core "
          f"(target >= 1,000: {'met' if games / seconds >= 1000 else 'NOT met'})")
    started = time.perf_counter()
    games, longest = asyncio.run(many(args.runs, args.latency, args.runs))
    wall, ideal = time.perf_counter() - started, longest * args.latency
    print(f"{args.latency * 1e3:.0f} ms per reply: {args.runs} runs x 5 rounds ({games:,} games) in {wall:.1f} s; "
          f"one run's replies in sequence take {ideal:.1f} s -> {wall / ideal:.2f}x that ideal")
    started = time.perf_counter()
    games, longest = experiment(args.runs, args.latency)
    wall, ideal = time.perf_counter() - started, longest * args.latency
    print(f"the same through run_experiment (runs.jsonl written as runs finish): {games:,} games in {wall:.1f} s "
          f"-> {wall / ideal:.2f}x the ideal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
