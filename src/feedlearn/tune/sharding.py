"""``strategy: zero3 | zeropp | qwz | hpz | qgz``: Trainer-based stages on the ``dist`` backend.

Under ``torchrun`` the model is sharded with FSDP2 by ``feedlearn.dist.apply_zeropp`` before the
``Trainer`` sees it, and marked as sharded at load time — transformers' own route for FSDP2 models
it did not wrap (no DDP around DTensors, gradients reduced by FSDP2's hooks, i.e. ours). Then:

* each step's bytes (this rank's, intra/cross node) go to ``log.jsonl`` (``bytes`` records);
* LoRA: the peft-wrapped model is sharded as it is (frozen base and adapters in the same FSDP2
  units, each parameter sharded on its own), so only the adapters get gradients, reduce-scatters
  and optimizer state; QLoRA's 4-bit base is refused (``config.TrainConfig``);
* checkpoints every ``save_steps`` with torch.distributed.checkpoint, resumed by rerunning the same
  command (``sharded_checkpoint.py``): transformers cannot checkpoint a model sharded outside it;
* the final model is gathered to full tensors on every rank and rank 0 saves it as a single-process
  run would (adapters and merged weights under LoRA); it alone evaluates it and writes ``summary.json``;
* sampling stages (RAFT, iterative DPO, PPO) roll out a slice of the prompts on each rank and
  gather the results (``gather_in_order``); rank 0 writes the round's data, the others wait for it.
"""

from __future__ import annotations

from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.device import join_process_group, placement
from feedlearn.dist.launch import under_torchrun
from feedlearn.tune.records import append_log


def is_main_rank() -> bool:
    import torch.distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


def shard(model: Any, strategy: str, ranks_per_node: int | None) -> Any:
    """Shard ``model`` in place for ``strategy``; returns the ``ZeroPP`` setup (byte counter inside)."""
    from feedlearn.dist.zeropp import STRATEGIES, apply_zeropp  # FSDP: ~2 s to import, only under a strategy

    rank_and_world(strategy)  # joins torchrun's process group (or says to use torchrun)
    where = placement()  # cuda:LOCAL_RANK when every local rank has a GPU, else the CPU
    model.to(where.device)
    setup = apply_zeropp(model, **STRATEGIES[strategy], ranks_per_node=ranks_per_node, device_type=where.device_type,
                         mp_policy=mixed_dtypes_policy(model))
    # transformers: "sharded already, do not wrap"; under LoRA its property is read on peft's inner model
    for target in {id(model): model, id(inner := getattr(model, "get_base_model", lambda: model)()): inner}.values():
        target._is_distributed_loading_by_transformers = True
    return setup


def mixed_dtypes_policy(model: Any) -> Any:
    """FSDP2's ``MixedPrecisionPolicy`` for a model whose parameters differ in dtype, else None.

    LoRA under ``-mixed`` precision has a frozen base in the compute dtype (bf16) and fp32 adapters
    (``precision.py``). FSDP2 all-gathers a module's parameters of several dtypes as raw bytes, which
    qwZ cannot quantize; gathering all of them in the base's dtype (what autocast computes in anyway)
    keeps one float dtype on the wire, and the adapters' gradients are reduced in fp32.
    """
    dtypes = {p.dtype for p in model.parameters()}
    if len(dtypes) < 2:
        return None
    from torch.distributed.fsdp import MixedPrecisionPolicy

    frozen = {p.dtype for p in model.parameters() if not p.requires_grad} or dtypes
    narrowest = min(frozen, key=lambda d: torch.finfo(d).bits)
    return MixedPrecisionPolicy(param_dtype=narrowest, reduce_dtype=torch.float32)


def bytes_callback(setup: Any, out_dir: Any):
    """A TrainerCallback closing the byte counter's step and logging rank 0's counts per step (log.jsonl)."""
    from transformers import TrainerCallback

    class StepBytes(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            counts = setup.counter.step()
            if state.is_world_process_zero:
                append_log(out_dir, {"step": state.global_step, "bytes": counts["total"]})

    return StepBytes()


def full_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """Every parameter as a full CPU tensor (a collective: all ranks call it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def rank_and_world(strategy: str) -> tuple[int, int]:
    """This process's rank and the world size: (0, 1) without a strategy; joins torchrun's group otherwise."""
    if strategy == "none":
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        if not under_torchrun():
            raise FeedlearnError(f"strategy={strategy} shards the model over processes: launch with torchrun, e.g. "
                                 "torchrun --nproc-per-node 4 -m feedlearn tune train sft ... strategy=zeropp")
        join_process_group(placement())
    return dist.get_rank(), dist.get_world_size()


def gather_in_order(mine: list, rank: int, world: int) -> list:
    """Items computed for indices ``rank, rank + world, ...`` on every rank, back in index order."""
    if world == 1:
        return mine
    import torch.distributed as dist

    parts: list = [None] * world
    dist.all_gather_object(parts, mine)
    out = [None] * sum(len(p) for p in parts)
    for r, part in enumerate(parts):
        out[r::world] = part
    return out


def barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
