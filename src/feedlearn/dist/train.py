"""A small sharded training run per strategy: per-step loss and per-rank bytes (what ``dist bench`` reports).

Every rank builds the same tiny Llama (same seed) on its device (``device.placement``: cuda:LOCAL_RANK
under NCCL, the CPU under gloo), shards it with ``apply_zeropp`` and trains on
its own stream of learnable synthetic sequences (arithmetic progressions mod the vocabulary, so the
loss falls fast and parity between strategies means something). ``run_worker`` runs several
strategies one after another in one process group — each from the same initial weights and the
same data — so they can be compared step by step.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from feedlearn.dist.device import Want, placement
from feedlearn.dist.zeropp import STRATEGIES, apply_zeropp


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategies: list[str] = Field(["zero3", "zeropp"], description="Strategies to run, in order.")
    steps: int = Field(20, gt=0, description="Optimizer steps per strategy.")
    ranks_per_node: int | None = Field(None, gt=0, description="Override LOCAL_WORLD_SIZE (simulate nodes).")
    seed: int = Field(0, description="Model initialisation and data seed.")
    batch_size: int = Field(4, gt=0, description="Sequences per rank per step.")
    seq_len: int = Field(32, gt=1, description="Tokens per sequence.")
    lr: float = Field(3e-3, gt=0, description="AdamW learning rate.")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Communication/compute dtype of the weights: float32 or bfloat16.")
    device: Want = Field("auto", description="auto: cuda:LOCAL_RANK over NCCL with a GPU per rank, else CPU over gloo; "
                                             "cuda or cpu to insist.")
    block_size: int = Field(2048, gt=0, description="Weight (qwZ) quantization block size (elements).")
    grad_block_size: int = Field(256, gt=0, description="Gradient (qgZ) quantization block size (elements).")
    error_feedback: bool = Field(False, description="qgZ: carry each step's quantization error into the next.")
    noise: float = Field(0.2, ge=0, lt=1, description="Share of random tokens in the synthetic sequences.")
    vocab_size: int = Field(256, gt=1)
    hidden_size: int = Field(64, gt=0)
    layers: int = Field(2, gt=0)
    heads: int = Field(4, gt=0)

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
        if not value:
            raise ValueError("give at least one strategy")
        return value

    @field_validator("grad_block_size")
    @classmethod
    def _even_for_int4(cls, value: int) -> int:
        if value % 2:  # two int4 values share a byte
            raise ValueError(f"must be even (int4 gradients pack two per byte), got {value}")
        return value


def tiny_llama(config: RunConfig) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(config.seed)
    model_config = LlamaConfig(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                               intermediate_size=config.hidden_size * 8 // 3 // 8 * 8 or 8,
                               num_hidden_layers=config.layers, num_attention_heads=config.heads,
                               num_key_value_heads=config.heads, max_position_embeddings=max(config.seq_len, 64))
    return LlamaForCausalLM(model_config)


def batches(config: RunConfig, rank: int, device: torch.device | str = "cpu"):
    """Endless batches for ``rank``: sequences ``start + i·stride (mod vocab)``, seeded per rank, with a
    ``config.noise`` share of tokens replaced by random ones — so the loss has a floor (about
    ``noise·ln(vocab)`` plus the entropy of where the noise falls) instead of falling to 0, and
    relative loss differences between strategies stay meaningful over long runs. Drawn on the CPU
    (the same tokens on every device), then moved to ``device``."""
    generator = torch.Generator().manual_seed(config.seed * 1000 + rank)
    positions = torch.arange(config.seq_len)
    shape = (config.batch_size, config.seq_len)
    while True:
        start = torch.randint(0, config.vocab_size, (config.batch_size, 1), generator=generator)
        stride = torch.randint(1, 4, (config.batch_size, 1), generator=generator)
        clean = (start + stride * positions) % config.vocab_size
        noisy = torch.rand(shape, generator=generator) < config.noise
        yield torch.where(noisy, torch.randint(0, config.vocab_size, shape, generator=generator), clean).to(device)


def _mp_policy(dtype: str) -> Any:
    if dtype == "float32":
        return None
    from torch.distributed.fsdp import MixedPrecisionPolicy

    return MixedPrecisionPolicy(param_dtype=getattr(torch, dtype), reduce_dtype=getattr(torch, dtype))


def sharded_model(strategy: str, config: RunConfig):
    """The tiny model on this rank's device, sharded with ``strategy``; returns ``(model, ZeroPP)``."""
    model = tiny_llama(config).to(placement(config.device).device)
    setup = apply_zeropp(model, **STRATEGIES[strategy], ranks_per_node=config.ranks_per_node,
                         block_size=config.block_size, grad_block_size=config.grad_block_size,
                         error_feedback=config.error_feedback,
                         mp_policy=_mp_policy(config.dtype))
    return model, setup


def train_strategy(strategy: str, config: RunConfig) -> dict[str, Any]:
    """Train ``config.steps`` steps; per step the mean loss over ranks and this rank's bytes sent."""
    import torch.distributed as dist

    model, setup = sharded_model(strategy, config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    device = placement(config.device).device
    data = batches(config, dist.get_rank(), device)
    losses, seconds = [], []
    for _ in range(config.steps):
        started = time.perf_counter()
        ids = next(data)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the step's kernels have run, not just been queued
        seconds.append(time.perf_counter() - started)
        setup.counter.step()
        mean = loss.detach().float().clone()
        dist.all_reduce(mean)  # logging only: not part of the training traffic counted above
        losses.append(float(mean) / dist.get_world_size())
    return {"strategy": strategy, "losses": losses, "bytes": setup.counter.steps, "step_seconds": seconds}


def run_worker(config: RunConfig) -> dict[str, Any]:
    """Every strategy in ``config.strategies`` on this rank; returns ``{strategy: result}``."""
    return {s: train_strategy(s, config) for s in config.strategies}
