"""``apply_zeropp``: shard a model with FSDP2 and switch on any of ZeRO++'s three techniques.

Order of steps (torchtitan's ``parallelize`` shape):

1. topology (nodes x ranks per node) and its process groups (intra-node, same-index cross-node);
2. ``fully_shard`` every block (default: each element of the model's ``nn.ModuleList``s, i.e. the
   transformer layers), then the root — hpZ sets ``reshard_after_forward`` to the ranks per node,
   so after forward each block keeps a secondary shard inside its node and the backward
   all-gather never leaves the node;
3. on every sharded module, the all-gather (plain, or qwZ) and reduce-scatter (plain, or qgZ)
   hooks, all of which count bytes into one ``ByteCounter``.

Strategies by name: ``zero3`` (none of the three), ``qwz``, ``hpz``, ``qgz``, ``zeropp`` (all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.accounting import ByteCounter
from feedlearn.dist.comms import HierarchicalQuantizedReduceScatter, PlainAllGather, PlainReduceScatter, QuantizedAllGather
from feedlearn.dist.fsdp_hooks import require_hook_api, segments_of
from feedlearn.dist.topology import Groups, Topology

STRATEGIES: dict[str, dict[str, bool]] = {
    "zero3": {"qwz": False, "hpz": False, "qgz": False},
    "qwz": {"qwz": True, "hpz": False, "qgz": False},
    "hpz": {"qwz": False, "hpz": True, "qgz": False},
    "qgz": {"qwz": False, "hpz": False, "qgz": True},
    "zeropp": {"qwz": True, "hpz": True, "qgz": True},
}


@dataclass
class ZeroPP:
    """What ``apply_zeropp`` set up: the topology, this rank's groups, the byte counter and the device."""

    topology: Topology
    groups: Groups
    counter: ByteCounter
    device_type: str  # of the model's parameters, FSDP2's mesh and the hooks' buffers: "cuda" or "cpu"


def blocks_of(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The elements of the model's ``ModuleList``s (transformer layers), outermost lists only."""
    found: list[torch.nn.Module] = []

    def visit(module: torch.nn.Module) -> None:
        for child in module.children():
            if isinstance(child, torch.nn.ModuleList):
                found.extend(child)
            else:
                visit(child)

    visit(model)
    return found


def apply_zeropp(model: torch.nn.Module, *, qwz: bool = True, hpz: bool = True, qgz: bool = True,
                 ranks_per_node: int | None = None, blocks: list[torch.nn.Module] | None = None,
                 weight_bits: int = 8, grad_bits: int = 4, block_size: int = 2048, grad_block_size: int = 256,
                 min_chunk: int = 1024,
                 error_feedback: bool = False, mp_policy: Any = None, device_type: str | None = None) -> ZeroPP:
    """Shard ``model`` in place with FSDP2 plus the chosen ZeRO++ techniques (module docstring).

    Needs an initialised default process group and the model on this rank's device (cuda:LOCAL_RANK
    under NCCL, the CPU under gloo: ``device.placement``); ``device_type`` (FSDP2's device mesh)
    defaults to that of the model's parameters. ``ranks_per_node`` overrides ``LOCAL_WORLD_SIZE``.
    Weights travel as int8 in ``block_size`` blocks (per parameter), gradients as int4 in
    ``grad_block_size`` blocks: int4 needs the smaller blocks — on the tiny model, 200 steps, the
    final loss was 1.45% above ZeRO-3's with 2048-element gradient blocks and 0.19% with 256 (for
    3% more gradient bytes); ``error_feedback`` brought the 2048 case to 0.83%.
    """
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FSDPModule, fully_shard

    if not dist.is_initialized():
        raise FeedlearnError("apply_zeropp needs torch.distributed initialised (run under torchrun or "
                             "`feedlearn dist bench`)")
    if grad_bits == 4 and grad_block_size % 2:
        raise FeedlearnError(f"grad_block_size must be even for int4 gradients, got {grad_block_size}")
    require_hook_api()
    device_type = device_type or _device_type_of(model)
    _check_backend(dist.get_backend(), device_type)
    topology = Topology.from_env(ranks_per_node)
    groups = Groups.create(topology)
    counter = ByteCounter(topology, dist.get_rank())
    mesh = init_device_mesh(device_type, (topology.world_size,))
    reshard: bool | int = topology.ranks_per_node if hpz and topology.nodes > 1 else True
    extra = {"mp_policy": mp_policy} if mp_policy is not None else {}
    for block in blocks if blocks is not None else blocks_of(model):
        fully_shard(block, mesh=mesh, reshard_after_forward=reshard, **extra)
    fully_shard(model, mesh=mesh, reshard_after_forward=reshard, **extra)
    plain_gather, plain_scatter = PlainAllGather(counter), PlainReduceScatter(counter)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_custom_all_gather(QuantizedAllGather(counter, groups, weight_bits, block_size,
                                                            segments_of(module)) if qwz else plain_gather)
            module.set_custom_reduce_scatter(HierarchicalQuantizedReduceScatter(
                counter, groups, grad_bits, grad_block_size, min_chunk, error_feedback,
                segments_of(module, trainable_only=True)) if qgz else plain_scatter)
    return ZeroPP(topology, groups, counter, device_type)


def _device_type_of(model: torch.nn.Module) -> str:
    """The one device type of the model's parameters (what FSDP2's mesh must be built on)."""
    types = sorted({p.device.type for p in model.parameters()})
    if len(types) != 1 or types[0] == "meta":
        raise FeedlearnError(f"apply_zeropp: the model's parameters are on {', '.join(types) or 'no device'}; move "
                             "it to this rank's device first (feedlearn.dist.device.placement) or pass device_type")
    return types[0]


# the device each backend's collectives take tensors on (others, e.g. a mixed "cpu:gloo,cuda:nccl", unchecked)
_BACKEND_DEVICE = {"nccl": "cuda", "gloo": "cpu"}


def _check_backend(backend: str, device_type: str) -> None:
    expected = _BACKEND_DEVICE.get(backend, device_type)
    if expected != device_type:
        raise FeedlearnError(f"apply_zeropp: the model is on {device_type} but the process group's backend is "
                             f"{backend}, which needs {expected} tensors; use feedlearn.dist.device.placement "
                             "for both")
