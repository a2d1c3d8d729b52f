"""``feedlearn dist``: the ZeRO++ benchmark and the DeepSpeed config writer (thin layer over the APIs)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import typer
from rich.console import Console

from feedlearn.common.errors import FeedlearnError

dist_app = typer.Typer(help="ZeRO++ communication (qwZ, hpZ, qgZ) on FSDP2: benchmark, DeepSpeed config.",
                       no_args_is_help=True)


@dist_app.command("bench")
def bench_command(
    nproc: int = typer.Option(4, "--nproc", help="Processes to launch (ignored under torchrun)."),
    ranks_per_node: int = typer.Option(None, "--ranks-per-node", help="Simulate nodes: ranks per node "
                                       "(default LOCAL_WORLD_SIZE)."),
    model: str = typer.Option("tiny", "--model", help="Model size: tiny or small (a small Llama)."),
    steps: int = typer.Option(20, "--steps", help="Training steps per strategy."),
    strategy: list[str] = typer.Option(["zero3", "zeropp"], "--strategy",
                                       help="zero3, qwz, hpz, qgz or zeropp; repeat or comma-separate."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 or bfloat16 (weights and gradients on the wire)."),
    device: str = typer.Option("auto", "--device", help="auto (cuda:LOCAL_RANK over NCCL with a GPU per rank, else "
                               "CPU over gloo), cuda or cpu."),
    block_size: int = typer.Option(2048, "--block-size", help="Weight (qwZ) quantization block size."),
    grad_block_size: int = typer.Option(256, "--grad-block-size", help="Gradient (qgZ) quantization block size."),
    error_feedback: bool = typer.Option(False, "--error-feedback", help="qgZ: carry quantization error to the next step."),
    seed: int = typer.Option(0, "--seed"),
    intra_gbps: float = typer.Option(800.0, "--intra-gbps", help="Intra-node bandwidth for the projected time."),
    cross_gbps: float = typer.Option(10.0, "--cross-gbps", help="Cross-node bandwidth for the projected time."),
    json_out: Path = typer.Option(None, "--json", help="Write per-step losses and per-rank bytes here."),
    timeout_s: float = typer.Option(300.0, "--timeout", help="Seconds before a stuck collective fails the run."),
) -> None:
    """Train a small model under each strategy; print bytes per rank (intra/cross node), loss, step time."""
    from pydantic import ValidationError

    from feedlearn.common.errors import validation_error
    from feedlearn.common.outputs import check_outputs
    from feedlearn.dist.bench import MODELS, bench_table, run_bench, save_json
    from feedlearn.dist.train import RunConfig

    if model not in MODELS:
        raise FeedlearnError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    for option, gbps in (("--intra-gbps", intra_gbps), ("--cross-gbps", cross_gbps)):
        if not (math.isfinite(gbps) and gbps > 0):
            raise FeedlearnError(f"{option} must be a positive bandwidth in Gb/s, got {gbps}")
    if json_out is not None:
        check_outputs({"--json": json_out})  # now, not after the runs
    strategies = [s.strip() for item in strategy for s in item.split(",") if s.strip()]
    try:
        config = RunConfig(strategies=strategies, steps=steps, ranks_per_node=ranks_per_node, dtype=dtype, device=device,
                           block_size=block_size, grad_block_size=grad_block_size, error_feedback=error_feedback,
                           seed=seed, **MODELS[model])
    except ValidationError as exc:
        raise validation_error("dist bench", exc, {f: "--" + f.replace("_", "-") for f in RunConfig.model_fields}
                               | {"strategies": "--strategy"}) from None
    result = run_bench(config, nproc=nproc, timeout_s=timeout_s)
    if result is None:  # not rank 0 under torchrun
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    console.print(bench_table(result, intra_gbps, cross_gbps))
    if json_out is not None:
        console.print(f"wrote {save_json(result, json_out)}")


@dist_app.command("deepspeed-config")
def deepspeed_config_command(
    out: Path = typer.Argument(..., help="Where to write the DeepSpeed JSON config."),
    zeropp: bool = typer.Option(True, "--zeropp/--no-zeropp", help="Switch on qwZ, hpZ and qgZ."),
    ranks_per_node: int = typer.Option(8, "--ranks-per-node", help="GPUs per node (hpZ's partition size)."),
    micro_batch_size: int = typer.Option(1, "--micro-batch-size"),
    grad_accum: int = typer.Option(1, "--grad-accum"),
    bf16: bool = typer.Option(True, "--bf16/--fp16"),
) -> None:
    """Write a DeepSpeed ZeRO-3 config with ZeRO++ (pitfalls: see feedlearn.dist.deepspeed)."""
    from feedlearn.dist.deepspeed import write_deepspeed_config

    path = write_deepspeed_config(out, zeropp=zeropp, ranks_per_node=ranks_per_node,
                                  micro_batch_size=micro_batch_size, grad_accum=grad_accum, bf16=bf16)
    Console(highlight=False).print(f"wrote {path}")
