"""Symmetric per-block quantization, the wire format of ZeRO++ qwZ (weights) and qgZ (gradients).

A tensor is flattened, zero-padded to whole blocks and viewed as ``(n_blocks, block_size)``. Each block
gets one fp32 scale ``absmax / 2**(bits-1)`` and its values become ``round_half_even(x / scale)`` clamped
to ``[-2**(bits-1), 2**(bits-1) - 1]``. So the block's ``+absmax`` lands on ``2**(bits-1)`` and is clamped
one step down (ZeRO++'s formula, kept as is); ``-absmax`` fits exactly.

Padding is zeros: a zero never raises a block's absmax, so padding cannot change any result, and every
rank sends same-sized buffers (collectives need that). A block of zeros gets scale 0 and dequantizes to
exact zeros. A NaN/inf makes its whole block non-finite after the round trip: an overflow stays visible
to loss scalers instead of being quietly rounded away. Scales below fp32's normal range (|x| < ~1e-36)
lose precision and the error bound below no longer holds; weights and gradients never live there.

Int4 packing: two's-complement nibbles, element ``2i`` in the low nibble and ``2i+1`` in the high
nibble of byte ``i``; an odd count is padded with a zero nibble.

Everything is vectorised and stays on the input's device; nothing here syncs with the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from feedlearn.common.errors import FeedlearnError

BITS = (4, 8)


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensors with == is elementwise, not a bool
class Quantized:
    """A quantized tensor ready to send: payload, per-block scales and what is needed to rebuild it."""

    data: torch.Tensor  # (padded,) int8 for 8 bits; (ceil(padded/2),) uint8 for 4 bits; padded = n_blocks * block_size
    scales: torch.Tensor  # (n_blocks,) float32
    bits: int
    block_size: int
    numel: int  # elements of the original tensor, before padding
    shape: torch.Size
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        """Bytes on the wire (payload + scales), for communication accounting."""
        return self.data.numel() * self.data.element_size() + self.scales.numel() * self.scales.element_size()


def _check(bits: int, block_size: int) -> None:
    if bits not in BITS:
        raise FeedlearnError(f"bits must be 4 or 8, got {bits!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
        raise FeedlearnError(f"block_size must be a positive int, got {block_size!r}")


def quantized_nbytes(numel: int, bits: int, block_size: int) -> int:
    """Exact wire size of ``quantize`` on ``numel`` elements, padding included, without building tensors."""
    _check(bits, block_size)
    if numel < 0:
        raise FeedlearnError(f"numel must be >= 0, got {numel}")
    n_blocks = -(-numel // block_size)
    padded = n_blocks * block_size
    payload = padded if bits == 8 else (padded + 1) // 2
    return payload + 4 * n_blocks  # 4 bytes per fp32 scale


def _pack(values: torch.Tensor) -> torch.Tensor:
    """Pack int8 values (assumed in -8..7) two per byte; the unchecked fast path used by ``quantize``."""
    flat = values.reshape(-1)
    if flat.numel() % 2:
        flat = F.pad(flat, (0, 1))
    nibbles = flat.view(torch.uint8) & 0x0F  # two's complement bits of int8 -> low 4 bits
    return nibbles[0::2] | (nibbles[1::2] << 4)


def pack_int4(values: torch.Tensor) -> torch.Tensor:
    """Pack int8 values in -8..7 two per byte (even index -> low nibble); returns flat uint8 of ceil(n/2)."""
    if values.dtype != torch.int8:
        raise FeedlearnError(f"pack_int4 needs an int8 tensor, got {values.dtype}")
    # A range check syncs with the host, so only this public entry point pays for it.
    if values.numel() and bool(((values < -8) | (values > 7)).any()):
        raise FeedlearnError("pack_int4 values must lie in -8..7")
    return _pack(values)


def unpack_int4(packed: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of ``pack_int4``: the first ``n`` values as flat int8 (``packed`` must hold ceil(n/2) bytes)."""
    if packed.dtype != torch.uint8:
        raise FeedlearnError(f"unpack_int4 needs a uint8 tensor, got {packed.dtype}")
    if n < 0 or packed.numel() != (n + 1) // 2:
        raise FeedlearnError(f"unpack_int4: {packed.numel()} bytes cannot hold exactly {n} int4 values")
    flat = packed.reshape(-1)
    nibbles = torch.stack([flat & 0x0F, flat >> 4], dim=1).reshape(-1)  # (2 * bytes,) in element order
    # Sign-extend a 4-bit two's complement value: flip the sign bit, then subtract it (15 -> -1, 8 -> -8).
    return ((nibbles.to(torch.int8) ^ 8) - 8)[:n]


@torch.no_grad()
def quantize(x: torch.Tensor, bits: int = 8, block_size: int = 2048, *, unbiased: bool = False) -> Quantized:
    """Quantize ``x`` per block of ``block_size`` elements to ``bits``-bit ints with one fp32 scale each.

    ``unbiased``: divide by ``2^(b−1) − 1`` instead, so ``+absmax`` is represented exactly rather than
    clamped one step down. ZeRO++'s formula shrinks every block's largest positive value by one
    step — 1/128 at int8, but 1/8 at int4, a bias toward zero that showed as a 1% smaller mean
    gradient through qgZ; gradients use ``unbiased=True`` (it gives up the code −2^(b−1)).
    """
    _check(bits, block_size)
    if not x.is_floating_point():
        raise FeedlearnError(f"quantize needs a floating-point tensor, got {x.dtype}")
    numel = x.numel()
    n_blocks = -(-numel // block_size)
    # Work in fp32 whatever the input dtype, so bf16/fp16 inputs follow the same formula.
    flat = F.pad(x.reshape(-1).to(torch.float32), (0, n_blocks * block_size - numel))
    blocks = flat.view(n_blocks, block_size)  # (n_blocks, block_size)
    qmax = 2 ** (bits - 1)
    scales = blocks.abs().amax(dim=1) / (qmax - 1 if unbiased else qmax)  # (n_blocks,)
    # An all-zero block has scale 0; divide it by 1 instead so it quantizes to zeros, not NaN.
    divisor = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.round(blocks / divisor[:, None]).clamp_(-qmax, qmax - 1).to(torch.int8).reshape(-1)
    data = q if bits == 8 else _pack(q)
    return Quantized(data, scales, bits, block_size, numel, x.shape, x.dtype)


@torch.no_grad()
def dequantize(q: Quantized, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Rebuild the tensor ``q`` came from, in its original shape and dtype (or ``dtype``)."""
    dtype = q.dtype if dtype is None else dtype
    if not dtype.is_floating_point:
        raise FeedlearnError(f"dequantize needs a floating-point dtype, got {dtype}")
    n_blocks = q.scales.numel()
    padded = n_blocks * q.block_size
    ints = q.data if q.bits == 8 else unpack_int4(q.data, padded)
    blocks = ints.to(torch.float32).view(n_blocks, q.block_size) * q.scales[:, None]  # (n_blocks, block_size)
    return blocks.reshape(-1)[: q.numel].reshape(q.shape).to(dtype)


@dataclass(frozen=True, eq=False)
class BlockLayout:
    """Blocks of at most ``block_size`` elements that restart at every segment (parameter) boundary.

    FSDP flattens all parameters of a module into one buffer; uniform blocks would straddle two
    parameters, and a block holding norm weights (~1.0) next to a matrix (~0.02) quantizes the matrix
    part with a 50x too coarse step. Per-segment blocks keep each parameter's own scale, as
    DeepSpeed's per-parameter quantization does, and need no padding on the wire.
    """

    block_of: torch.Tensor  # (numel,) int64: the block of each element
    n_blocks: int
    numel: int

    @classmethod
    def build(cls, segments: list[int], block_size: int, device: torch.device | str | None = None) -> BlockLayout:
        _check(8, block_size)
        if any(s < 0 for s in segments):
            raise FeedlearnError(f"segment sizes must be >= 0, got {segments}")
        # the totals come from the Python list, so that building a layout on a GPU never waits for it
        numel, n_blocks = sum(segments), sum(-(-s // block_size) for s in segments)
        sizes = torch.tensor(segments, dtype=torch.int64, device=device)
        blocks = (sizes + block_size - 1) // block_size  # (segments,)
        first_block = torch.cumsum(blocks, 0) - blocks
        starts = torch.cumsum(sizes, 0) - sizes
        segment_of = torch.repeat_interleave(torch.arange(len(segments), device=device), sizes,
                                             output_size=numel)  # (numel,)
        offset = torch.arange(numel, device=device) - starts[segment_of]
        return cls(first_block[segment_of] + offset // block_size, n_blocks, numel)

    def nbytes(self, bits: int) -> int:
        """Bytes on the wire of one quantized buffer with this layout (payload + fp32 scales)."""
        return (self.numel if bits == 8 else (self.numel + 1) // 2) + 4 * self.n_blocks


@torch.no_grad()
def quantize_segments(x: torch.Tensor, layout: BlockLayout, bits: int = 8, *,
                      unbiased: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``quantize`` with ``layout``'s blocks: ``(data, scales)`` of a flat buffer of ``layout.numel`` elements."""
    if x.numel() != layout.numel:
        raise FeedlearnError(f"quantize_segments: {x.numel()} elements, layout has {layout.numel}")
    data, scales = quantize_rows(x.reshape(1, -1), layout, bits, unbiased=unbiased)
    return data[0], scales[0]


@torch.no_grad()
def quantize_rows(rows: torch.Tensor, layout: BlockLayout, bits: int = 8, *,
                  unbiased: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row of ``rows`` (R, ``layout.numel``) quantized on its own with ``layout``'s blocks, so that
    row ``i`` can go to another rank: ``(data (R, bytes per row), scales (R, n_blocks))``. ``unbiased``:
    as in ``quantize``. Int4 rows need an even length (two values per byte, no byte shared by two rows)."""
    _check(bits, 1)
    if rows.dim() != 2 or rows.shape[1] != layout.numel:
        raise FeedlearnError(f"quantize_rows: rows of shape {tuple(rows.shape)}, layout has {layout.numel} elements")
    if bits == 4 and rows.shape[0] > 1 and layout.numel % 2:
        raise FeedlearnError(f"quantize_rows: int4 rows need an even length, got {layout.numel}")
    flat = rows.to(torch.float32)  # (R, numel)
    qmax = 2 ** (bits - 1)
    index = layout.block_of.expand_as(flat)  # (R, numel): each element's block
    absmax = torch.zeros(flat.shape[0], layout.n_blocks, dtype=torch.float32, device=flat.device)
    absmax.scatter_reduce_(1, index, flat.abs(), "amax")
    scales = absmax / (qmax - 1 if unbiased else qmax)  # (R, n_blocks)
    divisor = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.round(flat / divisor.gather(1, index)).clamp_(-qmax, qmax - 1).to(torch.int8)
    return (q if bits == 8 else _pack(q).view(flat.shape[0], -1)), scales


@torch.no_grad()
def dequantize_segments(data: torch.Tensor, scales: torch.Tensor, layout: BlockLayout, bits: int = 8) -> torch.Tensor:
    """Rows of quantized buffers back to float32: ``data`` (R, bytes), ``scales`` (R, n_blocks) → (R, numel)."""
    rows = data.shape[0] if data.dim() == 2 else 1
    data, scales = data.reshape(rows, -1), scales.reshape(rows, layout.n_blocks)
    if bits == 4:
        data = torch.stack([unpack_int4(r, layout.numel) for r in data])  # rows = ranks: a handful
    return data.to(torch.float32) * scales[:, layout.block_of]
