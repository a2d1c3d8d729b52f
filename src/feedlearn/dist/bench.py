"""``feedlearn dist bench``: train a small model under each strategy; bytes per rank, loss, step time.

Every rank's per-step bytes (intra/cross node) and the mean loss go to one JSON document. The
printed table adds a projected step time on a slow cross-node link: the measured (local, CPU or
GPU) step time plus the counted bytes at the given bandwidths,
``t = t_measured + intra_bytes / intra_bw + cross_bytes / cross_bw`` — a model, not a measurement,
that shows what the byte savings buy where ZeRO++ targets (many nodes, slow interconnect).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from rich.table import Table

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text
from feedlearn.dist.device import placement
from feedlearn.dist.launch import check_launch, launch, under_torchrun
from feedlearn.dist.topology import Topology
from feedlearn.dist.train import RunConfig, run_worker

MODELS: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "layers": 2, "heads": 4},
    "small": {"hidden_size": 256, "layers": 4, "heads": 8},
}


def _all_ranks(config: RunConfig) -> list[dict[str, Any]] | None:
    """Run on each rank; rank 0 returns every rank's results (and its backend and device), the others None."""
    import torch.distributed as dist

    mine = {"backend": dist.get_backend(), "device": str(placement(config.device).device), "runs": run_worker(config)}
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    return everyone if dist.get_rank() == 0 else None


def run_bench(config: RunConfig, *, nproc: int = 4, timeout_s: float = 300.0) -> dict[str, Any] | None:
    """Launch (or join torchrun), run every strategy; rank 0 gets ``{config, nproc, backend, devices, strategies}``
    (``devices``: each rank's, e.g. ``cuda:0`` .. ``cuda:3`` under NCCL).

    The topology is checked here, before any process starts: a bad ``ranks_per_node`` found by the
    workers costs a launch and a screen of tracebacks.
    """
    world = int(os.environ["WORLD_SIZE"]) if under_torchrun() else nproc
    check_launch(world, timeout_s)
    try:
        Topology(world, config.ranks_per_node or world)
    except FeedlearnError as exc:
        raise FeedlearnError(f"--ranks-per-node {config.ranks_per_node}: {exc}") from None
    placement(config.device, local_ranks=None if under_torchrun() else nproc)  # --device cuda without GPUs
    results = launch(_all_ranks, (config,), nproc=nproc, device=config.device, timeout_s=timeout_s)
    ranks = results.get(0)
    if ranks is None:
        return None
    out: dict[str, Any] = {"config": config.model_dump(), "nproc": len(ranks), "backend": ranks[0]["backend"],
                           "devices": [r["device"] for r in ranks], "strategies": {}}
    for strategy in config.strategies:
        per_rank = [r["runs"][strategy] for r in ranks]
        out["strategies"][strategy] = {
            "losses": per_rank[0]["losses"],
            "bytes": {str(rank): run["bytes"] for rank, run in enumerate(per_rank)},
            "step_seconds": [max(run["step_seconds"][i] for run in per_rank) for i in range(config.steps)],
        }
    return out


def save_json(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    return path


def summary_rows(result: dict[str, Any], intra_gbps: float, cross_gbps: float) -> list[dict[str, float | str]]:
    """Per strategy: mean bytes per rank per step (intra, cross), ratios to zero3, loss, times."""
    rows = []
    for name, run in result["strategies"].items():
        steps = [s for per_rank in run["bytes"].values() for s in per_rank]
        intra = statistics.mean(s["total"]["intra"] for s in steps)
        cross = statistics.mean(s["total"]["cross"] for s in steps)
        measured = statistics.median(run["step_seconds"])
        tail = run["losses"][-max(1, len(run["losses"]) // 10):]  # the last 10% of steps: one batch is noisy
        rows.append({"strategy": name, "intra_bytes": intra, "cross_bytes": cross, "final_loss": statistics.mean(tail),
                     "step_seconds": measured,
                     "projected_seconds": measured + intra * 8 / (intra_gbps * 1e9) + cross * 8 / (cross_gbps * 1e9)})
    base = next((r for r in rows if r["strategy"] == "zero3"), None)
    for row in rows:
        row["cross_vs_zero3"] = row["cross_bytes"] / base["cross_bytes"] if base and base["cross_bytes"] else float("nan")
        row["loss_vs_zero3"] = row["final_loss"] / base["final_loss"] - 1 if base else float("nan")
    return rows


def bench_table(result: dict[str, Any], intra_gbps: float = 800.0, cross_gbps: float = 10.0) -> Table:
    config = result["config"]
    table = Table(title=f"ZeRO++ on FSDP2: {result['nproc']} ranks ({result['backend']}), "
                        f"{config['ranks_per_node'] or result['nproc']} per "
                        f"node, {config['steps']} steps, {config['dtype']}; bytes sent per rank per step; projected "
                        f"step time at {intra_gbps:g} Gb/s intra, {cross_gbps:g} Gb/s cross-node",
                  caption="* mean loss over the last 10% of steps")
    for column in ("strategy", "intra bytes", "cross bytes", "cross/zero3", "final loss*", "loss vs zero3",
                   "step, measured", "step, projected"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for r in summary_rows(result, intra_gbps, cross_gbps):
        table.add_row(r["strategy"], f"{r['intra_bytes']:,.0f}", f"{r['cross_bytes']:,.0f}", f"{r['cross_vs_zero3']:.3f}x",
                      f"{r['final_loss']:.4f}", f"{r['loss_vs_zero3']:+.2%}", f"{r['step_seconds'] * 1e3:.1f} ms",
                      f"{r['projected_seconds'] * 1e3:.1f} ms")
    return table
