"""The ARC ``.lis`` format (Megiddo & Modha, FAST'03), optionally zstd-compressed.

Each line is ``start_block n_blocks ignored request_no``; it expands to ``n_blocks`` requests for
blocks ``start_block, start_block + 1, ...``, each of unit size (one 512-byte page). The time of a
request is the 0-based index of its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from feedlearn.cache.traces.model import Request, Trace, TraceChunk
from feedlearn.cache.traces.text import open_text
from feedlearn.common.errors import FeedlearnError, located

_U64_MAX = 2**64 - 1
MAX_REQUESTS = 2**31  # requests one .lis trace may expand to (tens of GB of arrays at the limit)


def _is_integer(text: str) -> bool:
    """An optionally negative run of ASCII digits, short enough for int() to be instant."""
    digits = text[1:] if text[:1] == "-" else text
    return digits.isascii() and digits.isdigit() and len(digits) <= 24


class LisReader:
    """Reader for ``*.lis`` and ``*.lis.zst`` block traces (unit-size requests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _lines(self) -> Iterator[tuple[int, int, int]]:
        """Yield ``(line_number, start_block, n_blocks)`` with 1-based line numbers."""
        total = 0
        with open_text(self.path) as handle:
            for line_no, line in enumerate(handle, start=1):
                cells = line.split()
                if not cells:
                    continue
                if len(cells) < 2:
                    raise located(self.path, line_no, f"expected 'start_block n_blocks ...', got {line.strip()!r}")
                if not all(_is_integer(c) for c in cells[:2]):
                    text = line.strip() if len(line.strip()) <= 60 else line.strip()[:60] + "..."
                    message = f"start_block and n_blocks must be integers, got {text!r}"
                    raise located(self.path, line_no, message)
                start, count = int(cells[0]), int(cells[1])
                if start < 0 or count < 0:
                    raise located(self.path, line_no, "start_block and n_blocks must be >= 0")
                # Block ids must fit the uint64 ids, and one line must not expand to more requests
                # than a trace may hold (a corrupt count would otherwise allocate without bound).
                if start + count - 1 > _U64_MAX:
                    raise located(self.path, line_no, f"the last block, {start + count - 1}, is beyond 2**64 - 1")
                total += count
                if total > MAX_REQUESTS:
                    raise located(self.path, line_no,
                                  f"the trace expands to more than {MAX_REQUESTS:,} requests (n_blocks {count:,})")
                yield line_no, start, count

    def __iter__(self) -> Iterator[Request]:
        for index, (_, start, count) in enumerate(self._lines()):
            for block in range(start, start + count):
                yield Request(float(index), block, 1)

    has_sizes = False

    def chunks(self, n: int) -> Iterator[TraceChunk]:
        """Consecutive chunks of ``n`` requests; a line may be split across chunks (never expanded whole)."""
        assert n >= 1
        pieces: list[tuple[int, int, int]] = []  # (line index, first block, blocks) of the chunk being filled
        room, start = n, 0
        for index, (_, first, count) in enumerate(self._lines()):
            while count > 0:
                take = min(count, room)
                pieces.append((index, first, take))
                first, count, room = first + take, count - take, room - take
                if room == 0:
                    yield _expand(start, pieces)
                    pieces, room, start = [], n, start + n
        if pieces:
            yield _expand(start, pieces)
        elif start == 0:
            raise FeedlearnError(f"{self.path}: the trace has no requests")

    def read(self) -> Trace:
        starts: list[int] = []
        counts: list[int] = []
        for _, start, count in self._lines():
            starts.append(start)
            counts.append(count)
        start_arr = np.asarray(starts, dtype=np.uint64)
        count_arr = np.asarray(counts, dtype=np.int64)
        total = int(count_arr.sum()) if len(count_arr) else 0
        if total == 0:
            raise FeedlearnError(f"{self.path}: the trace has no requests")
        # Expand line i into count[i] consecutive blocks without a Python loop:
        # block = start[line] + offset within the line.
        line_of = np.repeat(np.arange(len(start_arr)), count_arr)
        offsets = np.arange(total) - np.repeat(np.cumsum(count_arr) - count_arr, count_arr)
        return Trace(
            name=self.path.name,
            time=line_of.astype(np.float64),
            obj_id=start_arr[line_of] + offsets.astype(np.uint64),  # uint64 throughout: no float rounding
            size=np.ones(total, dtype=np.int64),
            has_sizes=False,
        )


def _expand(start: int, pieces: list[tuple[int, int, int]]) -> TraceChunk:
    """One chunk from ``(line index, first block, blocks)`` pieces, expanded as ``read`` does."""
    index = np.asarray([p[0] for p in pieces], dtype=np.int64)
    first = np.asarray([p[1] for p in pieces], dtype=np.uint64)
    count = np.asarray([p[2] for p in pieces], dtype=np.int64)
    total = int(count.sum())
    piece_of = np.repeat(np.arange(len(pieces)), count)
    offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    return TraceChunk(start, index[piece_of].astype(np.float64), first[piece_of] + offsets.astype(np.uint64),
                      np.ones(total, dtype=np.int64))
