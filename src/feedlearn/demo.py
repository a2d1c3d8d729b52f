"""``make demo`` / ``feedlearn demo``: feedlearn's main jobs on the shipped data, with short readable results.

Part 1 (cache): every registered eviction policy on two shipped real traces at several cache
sizes — a miss-ratio table and a plot; then learned eviction (HALP, LRB) on a CDN-like trace, with
HALP's online learning curves. Part 2 (tune): the tiny 4-stage recipe — domain, task and
instruction tuning of a tiny Llama made offline, then RLHF (reward model, RAFT, DPO, PPO), with
held-out metrics after every stage. Part 3 (dist): ZeRO++ on FSDP2 — 4 local processes acting as
2 nodes x 2 ranks train a tiny Llama under ZeRO-3 and each ZeRO++ technique; bytes sent per rank
across nodes, and the loss, side by side. Part 4 (bargain): ICL-AIF with scripted players — 200
runs x 5 rounds of the balloon game with AI feedback, no feedback and random tips; then the
critic's lessons moved into the weights (``selfplay-demo``): a tiny seller taught by SFT on scripted
games, one round of self-play RAFT with the game reward, compared with the untuned seller with and
without the critic's advice in its context.

Everything it reads ships inside the package (``feedlearn.shipped``), so it runs from any directory;
it writes under ``runs/demo`` (or ``out``). ``QUICK`` (``feedlearn demo --quick``) runs the same four
parts at toy scale: a check that an installation works, not results. (The aim is under a minute on
2 cores; the cache, learned-cache, dist and bargain parts take seconds, the eight rows of the
``tiny-quick`` recipe most of the time: each stage and its evals cost seconds however few its steps.)
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from feedlearn.cache.policies import POLICIES
from feedlearn.cache.report import pivot_table, plot_miss_ratios, plot_timeline, write_json
from feedlearn.cache.sweep import sweep
from feedlearn.cache.traces import CdnConfig, cdn_trace
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.text import plain

OUT = Path("runs") / "demo"  # relative to the working directory, like every output of the CLI

DEMO_TRACES = ("tencentBlock.ns2706", "cloudPhysicsIO")  # shipped traces (feedlearn list traces)
DEMO_SIZES = ("0.5%", "1%", "2%", "5%", "10%", "20%")
TABLE_SIZES = {"1%", "10%"}
LEARNED = ("lru", "s3fifo", "lrb", "halp(pick=heuristic)", "halp", "halp(k=4,tail=16)", "belady")


@dataclass(frozen=True, kw_only=True)
class DemoScale:
    """How much each part of the demo runs: the full demo, or ``QUICK``'s toy scale."""

    policies: tuple[str, ...] = tuple(POLICIES)  # cache: these policies (default: every registered one) ...
    traces: tuple[str, ...] = DEMO_TRACES  # ... on these shipped traces ...
    sizes: tuple[str, ...] = DEMO_SIZES  # ... at these cache sizes
    learned: tuple[str, ...] = LEARNED  # cache: learned eviction (with references) ...
    learned_requests: int = 300_000  # ... on this many requests of the CDN-like trace
    recipe: str = "tiny-4stage"  # tune: the shipped recipe (feedlearn list recipes) ...
    recipe_overrides: tuple[str, ...] = ()  # ... and key=value overrides of it
    dist_steps: int = 20  # dist: training steps per strategy
    bargain_runs: int = 200  # bargain: runs per feedback kind
    selfplay: str = "selfplay-demo"  # bargain self-play: the shipped config (feedlearn list selfplay) ...
    selfplay_overrides: tuple[tuple[str, object], ...] = ()  # ... and fields set over it


FULL = DemoScale()
# every part and every table at toy scale: six classic policies on one trace at two sizes (each policy
# is compiled on first use: a fresh install compiles only these; LRB, ~15 s to compile, is left out of
# the learned part), tiny-4stage on a few dozen examples
QUICK = DemoScale(policies=("lru", "fifo", "sieve", "arc", "s3fifo", "belady"), traces=DEMO_TRACES[:1],
                  sizes=("1%", "10%"), learned=("lru", "s3fifo", "halp(pick=heuristic)", "halp", "belady"),
                  learned_requests=20_000, recipe="tiny-quick", dist_steps=1, bargain_runs=20,
                  selfplay_overrides=(("teach_runs", 8), ("teach", {"max_steps": 4, "batch_size": 8, "lr": 3e-3}),
                                      ("play_runs", 2), ("eval_runs", 2), ("icl_rounds", 2), ("target_round", 2),
                                      ("train", {"max_steps": 2, "batch_size": 4, "k": 2, "iterations": 1,
                                                 "max_new_tokens": 8, "min_reward": None}), ("max_tokens", 8)))


def cache_demo(console: Console, out: Path = OUT, traces: tuple[str, ...] = DEMO_TRACES,
               sizes: tuple[str, ...] = DEMO_SIZES, policies: tuple[str, ...] = tuple(POLICIES)) -> None:
    """Compare the policies; print the 1% and 10% rows, save all sizes to JSON and a plot."""
    console.rule("[bold]cache: eviction policies on real traces")
    started = time.perf_counter()
    results = sweep(list(traces), list(policies), list(sizes))
    # results come in (trace, policy, size) order: keep the 1% and 10% columns for the table
    shown = [r for i, r in enumerate(results) if sizes[i % len(sizes)] in TABLE_SIZES]
    title = ("object / byte miss ratio at 1% and 10% of unique bytes (lower is better; "
             "bold: best online byte miss ratio; belady*: offline oracles)")
    console.print(pivot_table(shown, title))
    write_json(results, out / "cache_sweep.json")
    plot = plot_miss_ratios(results, out / "cache_miss_ratio.png")
    console.print(f"all sizes: {out / 'cache_sweep.json'}")
    console.print(f"plot: {plot}")
    console.print(f"cache demo took {time.perf_counter() - started:.1f}s")


def learned_demo(console: Console, out: Path = OUT, n_requests: int = 300_000,
                 policies: tuple[str, ...] = LEARNED, jobs: int | None = None) -> None:
    """HALP learning online from automated feedback on a CDN-like trace, next to LRU, S3-FIFO and LRB."""
    console.rule(f"[bold]cache: learned eviction on a CDN-like trace ({n_requests:,} requests, 1% of unique bytes)")
    started = time.perf_counter()
    trace = cdn_trace(CdnConfig(n_requests=n_requests, initial_objects=max(n_requests // 30, 100), seed=1))
    results = sweep([trace], list(policies), ["1%"], jobs=jobs)  # jobs: processes (default: all cores)
    lru = results[0].byte_miss_ratio
    table = Table(title="byte miss ratio (lower is better); HALP trains its model online from pairwise feedback")
    for column in ("policy", "byte miss", "vs LRU", "obj miss", "M req/s", "model decisions", "decision accuracy"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for r in results:
        d = r.diagnostics
        learned = d and d.get("model_decisions", 0) > 0
        table.add_row(
            r.policy, f"{r.byte_miss_ratio:.4f}", f"{(r.byte_miss_ratio - lru) / lru:+.1%}",
            f"{r.object_miss_ratio:.4f}", f"{r.requests / max(r.seconds, 1e-9) / 1e6:.2f}",
            f"{d['model_decisions']:,} / {d['evictions']:,}" if learned else "",
            f"{d['decision_accuracy']:.3f}" if learned and "decision_accuracy" in d else "",
        )
    console.print(table)
    write_json(results, out / "learned.json")
    timeline = plot_timeline([r for r in results if r.policy in ("lru", "halp")], out / "halp_timeline.png")
    console.print(f"per-window byte miss ratio and HALP's loss/accuracy over time: {timeline}")
    console.print(f"learned demo took {time.perf_counter() - started:.1f}s")


def tune_demo(console: Console, out: Path = OUT, overrides: list[str] | None = None, recipe: str = "tiny-4stage") -> dict:
    """The tiny 4-stage recipe: a tiny Llama made offline, then domain -> task -> instruction tuning -> RLHF."""
    from feedlearn.tune.cli import recipe_table
    from feedlearn.tune.infer import GenerationOptions, generate
    from feedlearn.tune.models import load_model, load_tokenizer
    from feedlearn.tune.recipe import run_recipe

    console.rule(f"[bold]tune: LMFlow's four steps on a tiny Llama (the shipped recipe {recipe})")
    started = time.perf_counter()
    result = run_recipe(recipe, [f"output_dir={out / recipe}", *(overrides or [])],
                        log=lambda row: console.print(f"  {row['stage']} done ({time.perf_counter() - started:.0f}s)"))
    console.print(recipe_table(result))
    console.print("Each stage does its job on held-out data: perplexity on unseen Wikipedia articles falls after "
                  "`domain`; exact match on unseen sort/reverse inputs rises after `task`; after `instruction` the "
                  "model follows new phrasings in the chat template and stops at <|im_end|>. Then RLHF: the reward "
                  "model tells correct from wrongly ordered sort answers (held-out accuracy), and RAFT, DPO and PPO, each "
                  "from the instruction-tuned model, raise the mean reward and win over it (align win rate > 0.5) at "
                  "a small KL. A 1.3M-parameter model forgets earlier stages (perplexity rises again) — the reason "
                  "LMFlow recipes use LoRA on real models.")
    final = result["rows"][-1]["model"]
    model, tokenizer = load_model(final), load_tokenizer(final)
    question = [{"role": "user", "content": "Please sort: 7 2 9 4"}]
    reply = generate(model, tokenizer, [question], GenerationOptions(max_new_tokens=16))[0]
    console.print(f"chat: {question[0]['content']!r} -> {plain(reply.text)!r} "  # model text: no markup, no escapes
                  f"({'stopped at EOS' if reply.stopped else 'did not stop'} after {reply.tokens} tokens)", markup=False)
    console.print(f"tune demo took {time.perf_counter() - started:.1f}s; summaries: {out / recipe}")
    return result


def dist_demo(console: Console, out: Path = OUT, steps: int = 20) -> dict:
    """ZeRO++ vs ZeRO-3 on 4 gloo processes as 2 nodes x 2 ranks (bf16 on the wire, ZeRO++'s setting)."""
    from feedlearn.dist.bench import bench_table, run_bench, save_json, summary_rows
    from feedlearn.dist.train import RunConfig

    console.rule("[bold]dist: ZeRO++ (qwZ, hpZ, qgZ) on FSDP2, 4 processes as 2 nodes x 2 ranks")
    started = time.perf_counter()
    config = RunConfig(strategies=["zero3", "qwz", "hpz", "qgz", "zeropp"], steps=steps, ranks_per_node=2,
                       dtype="bfloat16")
    result = run_bench(config, nproc=4)
    console.print(bench_table(result))
    path = save_json(result, out / "dist_bench.json")
    zeropp = next(r for r in summary_rows(result, 800.0, 10.0) if r["strategy"] == "zeropp")
    console.print(f"ZeRO++ sends {zeropp['cross_vs_zero3']:.2f}x ZeRO-3's bytes across nodes (the paper: 4x less) at "
                  f"{zeropp['loss_vs_zero3']:+.1%} loss: int8 weights in the forward all-gather (qwZ), a secondary "
                  "weight shard inside each node for the backward all-gather (hpZ), int4 gradients reduced inside "
                  f"the node first (qgZ). Per-step bytes of every rank: {path}")
    console.print(f"dist demo took {time.perf_counter() - started:.1f}s")
    return result


def bargain_demo(console: Console, out: Path = OUT, runs: int = 200) -> dict:
    """ICL-AIF on the balloon game with scripted players: AI feedback vs none vs random tips."""
    import shutil

    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
    from feedlearn.bargain.report import plot, report

    console.rule("[bold]bargain: ICL-AIF, the balloon game, scripted buyer/seller/critic")
    started = time.perf_counter()
    dirs = []
    for feedback in ("ai", "none", "random"):
        folder = out / "bargain" / feedback
        shutil.rmtree(folder, ignore_errors=True)
        run_experiment(ExperimentConfig(runs=runs, rounds=5, feedback=feedback), folder)
        dirs.append(folder)
    rows = report(dirs, rounds=5)
    table = Table(title=f"coached seller, {runs} runs x 5 rounds: mean deal price (deal success)")
    table.add_column("feedback")
    for r in range(1, 6):
        table.add_column(f"round {r}", justify="right")
    for name, per in rows.items():
        table.add_row(name, *(f"{p['mean_price']:.2f} ({p['success_ratio']:.2f})" if p["mean_price"] is not None
                              else f"— ({p['success_ratio']:.2f})" for p in per))
    console.print(table)
    figure = plot(rows, out / "bargain" / "bargain.png")
    console.print("The critic's advice stays in the seller's context and raises the price round after round, at the "
                  "cost of deals (the paper's shape: GPT-4 seller 15.47 -> 17.29, success 0.97 -> 0.59); without "
                  f"feedback nothing changes; random tips help a little. Figure: {figure}")
    console.print(f"bargain demo took {time.perf_counter() - started:.1f}s")
    return rows


def selfplay_demo(console: Console, out: Path = OUT, config: str = "selfplay-demo",
                  overrides: tuple[tuple[str, object], ...] = ()) -> dict:
    """The critic's lessons in the weights: a tiny seller tuned by self-play, against the same seller advised in context."""
    import shutil

    from feedlearn.bargain.compare import comparison, rich_table, verdict
    from feedlearn.bargain.selfplay import SelfPlayConfig, run_selfplay
    from feedlearn.common.config import load_config
    from feedlearn.shipped import find

    console.rule(f"[bold]bargain: the lessons in the weights, self-play RAFT of a tiny seller ({config})")
    started = time.perf_counter()
    folder = out / "bargain" / "selfplay"
    shutil.rmtree(folder, ignore_errors=True)  # a demo shows a fresh run, not a resumed one
    settings = load_config(SelfPlayConfig, find("selfplay", config), dict(overrides))
    results = run_selfplay(settings, folder)
    shown = comparison(folder)
    console.print(rich_table(shown, "the untuned tiny seller without advice and with the critic's advice in context "
                                    "(ICL-AIF), each tuned seller without advice, against the scripted buyer"))
    console.print(verdict(shown), markup=False)
    console.print("A tiny Llama made offline learns to speak the game from the scripted seller's successful games "
                  "(SFT); it then plays the scripted buyer, and RAFT keeps its best sampled replies as scored by the "
                  "game reward (each reply played out, its price held to the end): prices the buyer never reaches "
                  "score no deal, so a tuned seller learns to ask the most the buyer pays, with no advice in its "
                  f"context (--quick's toy scale only checks that the loop runs). Every step: {folder}", markup=False)
    console.print(f"self-play demo took {time.perf_counter() - started:.1f}s ({results['seconds']})", markup=False)
    return results


PARTS = ("cache", "learned", "tune", "dist", "bargain", "selfplay")


def run_demo(out: Path = OUT, scale: DemoScale = FULL, console: Console | None = None,
             parts: tuple[str, ...] = PARTS) -> None:
    """The ``parts`` (default: all) at ``scale``, their tables printed on ``console``, their files under ``out``."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise FeedlearnError(f"unknown demo part {unknown[0]!r}; choose from {', '.join(PARTS)}" if unknown
                             else f"no demo part given; choose from {', '.join(PARTS)}")
    console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    started = time.perf_counter()
    run = {
        "cache": lambda: cache_demo(console, out, scale.traces, scale.sizes, scale.policies),
        "learned": lambda: learned_demo(console, out, scale.learned_requests, scale.learned),
        "tune": lambda: tune_demo(console, out, list(scale.recipe_overrides), scale.recipe),
        "dist": lambda: dist_demo(console, out, scale.dist_steps),
        "bargain": lambda: bargain_demo(console, out, scale.bargain_runs),
        "selfplay": lambda: selfplay_demo(console, out, scale.selfplay, scale.selfplay_overrides),
    }
    for part in PARTS:  # in the demo's order, whatever the order asked
        if part in parts:
            run[part]()
    console.print(f"demo took {time.perf_counter() - started:.0f}s; its files: {out}")


def main() -> int:
    run_demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
