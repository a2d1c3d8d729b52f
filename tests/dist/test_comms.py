"""The ZeRO++ hooks in one process: qgZ's blocks per parameter, and every tensor on the buffers' device.

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
from feedlearn.dist.quant import dequantize, quantize
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
            comms.HierarchicalQuantizedReduceScatter(counter, groups, 4, 256, min_chunk=1, error_feedback=True,
                                                     segments=lambda: segments)]


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


def qgz(segments=None) -> comms.HierarchicalQuantizedReduceScatter:
    return comms.HierarchicalQuantizedReduceScatter(ByteCounter(TOPOLOGY, 0), Groups(TOPOLOGY, 0, None, None), bits=4,
                                                    block_size=16, segments=segments)


@pytest.mark.parametrize("chunks", [2, 1])  # step 2's rows hold one chunk per node (2), step 4's one chunk
def test_qgz_blocks_restart_at_every_parameter_and_chunk(chunks):
    """Each chunk is this rank's shards of 4 parameters of 7, 64, 1 and 33 elements (not multiples of the
    16-element block): a row's scales and values must be those of each parameter quantized alone. A
    row of 105 elements is odd, so it also carries one zero (one more block, scale 0) for int4 packing."""
    sizes = [7, 64, 1, 33]
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([1.0, 0.02, 5.0, 0.1]).repeat_interleave(torch.tensor(sizes))  # a norm next to a matrix...
    rows = torch.randn(3, chunks, 105, generator=g) * scale  # (rows, chunks, chunk elements)
    pad = [torch.zeros(1)] if chunks * 105 % 2 else []
    hook = qgz(lambda: sizes)
    layout = hook.layout(105, chunks, torch.device("cpu"))
    data, scales = hook.quantize(rows.view(3, -1), layout)
    for r in range(3):
        alone = [quantize(part, 4, 16, unbiased=True) for chunk in rows[r] for part in chunk.split(sizes)]
        assert torch.equal(scales[r], torch.cat([q.scales for q in alone] + pad))
        expected = torch.cat([dequantize(q, torch.float32) for q in alone])
        assert torch.equal(hook.dequantize(data, scales, layout, chunks * 105)[r], expected)
    # unknown parameter sizes (segments not matching the chunk): blocks still restart at each chunk
    unknown = qgz(lambda: [100])
    data, scales = unknown.quantize(rows.view(3, -1), unknown.layout(105, chunks, torch.device("cpu")))
    per_chunk = [quantize(chunk, 4, 16, unbiased=True).scales for chunk in rows[0]]
    assert torch.equal(scales[0], torch.cat(per_chunk + pad))
