"""The ZeRO++ hooks in one process: every tensor they make lives on their inputs' device.

FSDP2 hands the hooks buffers on the parameters' device (cuda:LOCAL_RANK under NCCL). Here the
buffers are on ``meta`` and the collectives are stand-ins, so a tensor created on the CPU by a
hook (a ``torch.zeros(n)`` without ``device=``) shows up as a ``cpu`` result, without a GPU.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch.overrides import TorchFunctionMode

from feedlearn.dist import comms
from feedlearn.dist.accounting import ByteCounter
from feedlearn.dist.topology import Groups, Topology

TOPOLOGY = Topology(world_size=4, ranks_per_node=2)  # 2 nodes x 2 ranks, as the 4-process tests


class FakeGroup:
    def size(self) -> int:
        return TOPOLOGY.world_size


class DevicesSeen(TorchFunctionMode):
    """Records the device type of every tensor a torch function returns."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(value, torch.Tensor):
                self.seen.add(value.device.type)
        return out


@pytest.fixture
def fake_collectives(monkeypatch):
    """Collectives that move nothing (meta tensors hold no data); the world is ranks 0..3 in order."""
    monkeypatch.setattr(comms, "_all_gather", lambda out, inp, group=None: None)
    monkeypatch.setattr(comms, "_reduce_scatter", lambda out, inp, op=None, group=None: None)
    monkeypatch.setattr(dist, "all_to_all_single", lambda out, inp, group=None: None)
    monkeypatch.setattr(dist, "get_process_group_ranks", lambda group: list(range(TOPOLOGY.world_size)))


def hooks() -> list:
    counter, groups = ByteCounter(TOPOLOGY, 0), Groups(TOPOLOGY, 0, intra=None, cross=None)
    segments = [300, 64, 1660]  # parameter shards of one module: 2024 elements per rank
    return [comms.PlainAllGather(counter), comms.QuantizedAllGather(counter, groups, 8, 256, lambda: segments),
            comms.PlainReduceScatter(counter),
            comms.HierarchicalQuantizedReduceScatter(counter, groups, 4, 256, min_chunk=1, error_feedback=True)]


@pytest.mark.parametrize("hook", hooks(), ids=lambda h: type(h).__name__)
def test_hooks_create_their_tensors_on_the_buffers_device(fake_collectives, hook):
    meta = torch.device("meta")
    shard = 2024
    output = hook.allocate((TOPOLOGY.world_size * shard,), dtype=torch.bfloat16, device=meta)
    with DevicesSeen() as mode:
        for _ in range(2):  # the second call reuses cached layouts and the error-feedback residual
            if isinstance(hook, comms.AllGather):
                hook(output, output[:shard], FakeGroup())
            else:
                hook(output[:shard], output, FakeGroup(), dist.ReduceOp.AVG)
    assert output.device == meta
    assert mode.seen == {"meta"}, mode.seen  # the quantized paths create dozens of tensors: none on the CPU

