"""FSDP2 communication hooks: plain (ZeRO-3), qwZ all-gather and qgZ reduce-scatter, all byte-counted.

FSDP2 lets a sharded module swap its all-gather and reduce-scatter (``set_custom_all_gather`` /
``set_custom_reduce_scatter``); each hook gets FSDP's flat buffers and process group and must
fill the output. Ours run synchronously (they return no ``Work``), so FSDP waits on nothing.

* ``PlainAllGather`` / ``PlainReduceScatter`` — what FSDP2 does by default, plus byte counting
  (the ZeRO-3 baseline; tested bit-identical to FSDP2's own). The reduce-scatter sums and divides
  for a mean itself, because gloo has no ``AVG``.
* ``QuantizedAllGather`` (qwZ) — each rank quantizes its shard (int8 blocks), the payload and the
  fp32 scales are all-gathered, every rank dequantizes all shards (its own too, so all ranks
  compute with identical weights). Only a gather that crosses nodes is quantized: with hpZ the
  backward gather stays inside the node and travels in the parameter dtype, as in ZeRO++.
* ``HierarchicalQuantizedReduceScatter`` (qgZ) — see its docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist

from feedlearn.dist.accounting import ByteCounter
from feedlearn.dist.fsdp_hooks import AllGather, ReduceScatter
from feedlearn.dist.quant import BlockLayout, dequantize_segments, quantize_rows, quantize_segments
from feedlearn.dist.topology import Groups

AVG, SUM = dist.ReduceOp.AVG, dist.ReduceOp.SUM
# torch renamed the tensor collectives (2.13: *_single; the old names warn)
_all_gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
_reduce_scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


class _Alloc:
    def allocate(self, size: Sequence[int], *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return torch.empty(*size, dtype=dtype, device=device)


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class PlainAllGather(_Alloc, AllGather):
    def __init__(self, counter: ByteCounter) -> None:
        self.counter = counter

    def __call__(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor, group: dist.ProcessGroup,
                 async_op: bool = False) -> None:
        self.counter.send("all_gather", dist.get_process_group_ranks(group), _nbytes(input_tensor))
        _all_gather(output_tensor, input_tensor, group=group)


class PlainReduceScatter(_Alloc, ReduceScatter):
    def __init__(self, counter: ByteCounter) -> None:
        self.counter = counter

    def __call__(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor, group: dist.ProcessGroup,
                 op: object, async_op: bool = False) -> None:
        _check_op(op)
        self.counter.send("reduce_scatter", dist.get_process_group_ranks(group), _nbytes(output_tensor))
        _reduce_scatter(output_tensor, input_tensor, op=SUM, group=group)
        if op == AVG:
            output_tensor.div_(group.size())


def _check_op(op: object) -> None:
    if op not in (SUM, AVG):  # FSDP2 asks for these unless a custom gradient divide factor is set
        raise ValueError(f"feedlearn's reduce-scatter supports SUM and AVG, not {op}")


def _layout(cache: dict, segments: Callable[[], list[int]] | None, numel: int, copies: int, block_size: int,
            device: torch.device, even: bool = False) -> BlockLayout:
    """Blocks over ``copies`` consecutive buffers of ``numel`` elements, restarting at every parameter
    (``segments()``, checked against ``numel``; uniform blocks per buffer if it does not match) and at every
    buffer boundary. ``even``: one zero element more if needed, for int4 rows (two values per byte)."""
    key = (numel, copies)
    if key not in cache:
        parts = segments() if segments is not None else []
        if sum(parts) != numel:
            parts = [numel]  # unknown layout: uniform blocks over the buffer
        row = parts * copies
        cache[key] = BlockLayout.build(row + [1] if even and sum(row) % 2 else row, block_size, device)
    return cache[key]


class QuantizedAllGather(_Alloc, AllGather):
    """qwZ: all-gather of int8 blocks + fp32 scales, dequantized into FSDP's output buffer.

    ``segments()`` gives the per-parameter sizes of this module's flat shard, so that blocks never
    straddle two parameters (``BlockLayout``); without it (or if it does not match), uniform blocks.
    """

    def __init__(self, counter: ByteCounter, groups: Groups, bits: int = 8, block_size: int = 2048,
                 segments: Callable[[], list[int]] | None = None) -> None:
        self.counter, self.groups, self.bits, self.block_size = counter, groups, bits, block_size
        self.segments, self.layouts = segments, {}
        self.plain = PlainAllGather(counter)

    def layout(self, numel: int, device: torch.device) -> BlockLayout:
        return _layout(self.layouts, self.segments, numel, 1, self.block_size, device)

    def __call__(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor, group: dist.ProcessGroup,
                 async_op: bool = False) -> None:
        ranks = dist.get_process_group_ranks(group)
        topology = self.groups.topology
        if all(topology.same_node(ranks[0], r) for r in ranks):  # hpZ's intra-node gather: not worth it
            return self.plain(output_tensor, input_tensor, group)
        if not input_tensor.is_floating_point():  # FSDP2 gathers a unit of mixed dtypes as raw bytes:
            return self.plain(output_tensor, input_tensor, group)  # nothing to quantize (tune gives one dtype)
        size, shard = group.size(), input_tensor.numel()
        layout = self.layout(shard, input_tensor.device)
        # input_tensor is a view into output_tensor (FSDP's copy-in): quantize before the output is written
        data, scales = quantize_segments(input_tensor, layout, self.bits)
        self.counter.send("all_gather_q", ranks, _nbytes(data) + _nbytes(scales))
        all_data, all_scales = data.new_empty(size * data.numel()), scales.new_empty(size * scales.numel())
        _all_gather(all_data, data, group=group)
        _all_gather(all_scales, scales, group=group)
        values = dequantize_segments(all_data.view(size, -1), all_scales.view(size, -1), layout, self.bits)
        output_tensor.view(size, shard).copy_(values)


class HierarchicalQuantizedReduceScatter(_Alloc, ReduceScatter):
    """qgZ: gradient reduce-scatter as two quantized all-to-alls, inside the node, then across nodes.

    FSDP's input is the flat gradient of W = N·L ranks' chunks (C elements each; chunk ``r`` ends
    on rank ``r``, node ``r // L``, local index ``r % L``). Steps, on every rank:

    1. reorder: the send row for local peer ``l`` holds the chunks of ranks ``(n, l)`` for every
       node ``n`` — (L, N·C);
    2. quantize each row (``bits``, default int4) and all-to-all inside the node;
    3. dequantize, sum the L rows in fp32 → (N, C): this node's partial sums of the chunks of my
       same-index peers on every node;
    4. requantize each of the N rows and all-to-all across nodes among same-index peers;
    5. dequantize, sum the N rows in fp32 → my chunk summed over all W ranks; divide by W for AVG.

    Quantization blocks (``grad_block_size``, default 256) restart at every parameter boundary, as in
    qwZ: a chunk is the concatenation of one rank's shards of every parameter of the module
    (``segments()``), so uniform blocks over a row would straddle two parameters (and, where C is
    not a multiple of the block, two chunks), giving e.g. a norm weight's small gradients the
    quantization step of a large neighbour's. A row of odd length gets one zero element (int4 packs pairs).

    Cross-node traffic is (N−1)/N of C·N values at ``bits`` bits instead of (W−L)/W of C·W values in
    the gradient dtype. Falls back to the plain reduce-scatter on one node, for chunks smaller than
    ``min_chunk`` elements, and for groups other than the whole world in rank order.

    The scale is right by construction: each chunk is summed exactly once over all W ranks, then
    divided by W (tested: mean gradient scale within 1% of the exact reduce-scatter). DeepSpeed's
    hierarchical path, by our reading of its ``all_to_all_quant_reduce``, divides only by the number of
    nodes, leaving gradients L times too large — consistent with the divergence reported in its issue
    #4886, not confirmed by a run (``deepspeed.py``, pitfall 5).
    """

    def __init__(self, counter: ByteCounter, groups: Groups, bits: int = 4, block_size: int = 2048,
                 min_chunk: int = 1024, error_feedback: bool = False,
                 segments: Callable[[], list[int]] | None = None) -> None:
        self.counter, self.groups, self.bits, self.block_size = counter, groups, bits, block_size
        self.min_chunk, self.error_feedback = min_chunk, error_feedback
        self.segments, self.layouts = segments, {}
        self.residual: dict[str, torch.Tensor] = {}  # error feedback: what quantization dropped last time
        self.plain = PlainReduceScatter(counter)

    def layout(self, chunk: int, chunks_per_row: int, device: torch.device) -> BlockLayout:
        """The blocks of a send row of ``chunks_per_row`` chunks of ``chunk`` elements."""
        return _layout(self.layouts, self.segments, chunk, chunks_per_row, self.block_size, device, self.bits == 4)

    def __call__(self, output_tensor: torch.Tensor, input_tensor: torch.Tensor, group: dist.ProcessGroup,
                 op: object, async_op: bool = False) -> None:
        _check_op(op)
        topology, groups = self.groups.topology, self.groups
        chunk = output_tensor.numel()
        ranks = dist.get_process_group_ranks(group)
        if topology.nodes == 1 or chunk < self.min_chunk or ranks != list(range(topology.world_size)):
            return self.plain(output_tensor, input_tensor, group, op)
        nodes, local = topology.nodes, topology.ranks_per_node
        rows = input_tensor.view(nodes, local, chunk).transpose(0, 1).reshape(local, nodes * chunk).float()
        partial = self._all_to_all(rows, self.layout(chunk, nodes, rows.device), groups.intra,
                                   topology.node_ranks(topology.node_of(groups.rank)), "intra")
        node_sums = partial.view(local, nodes, chunk).sum(0)  # (N, C) fp32
        received = self._all_to_all(node_sums, self.layout(chunk, 1, rows.device), groups.cross,
                                    topology.peer_ranks(topology.local_of(groups.rank)), "cross")
        total = received.sum(0)  # (C,) fp32: my chunk over all W ranks
        if op == AVG:
            total /= topology.world_size
        output_tensor.copy_(total)

    def quantize(self, rows: torch.Tensor, layout: BlockLayout) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows (R, n) as ``layout`` blocks, unbiased scales (``quant.quantize``): ``(data (R, bytes), scales (R, blocks))``."""
        padded = torch.nn.functional.pad(rows, (0, layout.numel - rows.shape[1]))  # int4: at most one zero
        return quantize_rows(padded, layout, self.bits, unbiased=True)

    def dequantize(self, data: torch.Tensor, scales: torch.Tensor, layout: BlockLayout, n: int) -> torch.Tensor:
        """Inverse of ``quantize``: (R, n) float32."""
        return dequantize_segments(data, scales, layout, self.bits)[:, :n]

    def _all_to_all(self, rows: torch.Tensor, layout: BlockLayout, group: dist.ProcessGroup, group_ranks: list[int],
                    kind: str) -> torch.Tensor:
        """Send quantized row ``i`` to the ``i``-th member of ``group``; return the rows received, dequantized."""
        n = rows.shape[1]
        if self.error_feedback and kind in self.residual:
            rows = rows + self.residual[kind]
        data, scales = self.quantize(rows, layout)
        if self.error_feedback:  # keep the rounding error and send it with the next step's gradients
            self.residual[kind] = rows - self.dequantize(data, scales, layout, n)
        self.counter.send(f"reduce_scatter_q_{kind}", group_ranks, _nbytes(data[0]) + _nbytes(scales[0]))
        got_data, got_scales = torch.empty_like(data), torch.empty_like(scales)
        dist.all_to_all_single(got_data, data, group=group)
        dist.all_to_all_single(got_scales, scales, group=group)
        return self.dequantize(got_data, got_scales, layout, n)
