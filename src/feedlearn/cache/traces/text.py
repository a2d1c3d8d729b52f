"""Opening text traces that may be zstd-compressed (``*.zst``), streaming line by line."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

import zstandard

from feedlearn.common.errors import FeedlearnError, located


def check_trace_file(path: Path) -> None:
    """A missing path or a folder is a one-line error naming it."""
    if not path.exists():
        raise FeedlearnError(f"{path}: no such trace file")
    if not path.is_file():
        raise FeedlearnError(f"{path}: not a regular file")


class _ZstdStream(io.RawIOBase):
    """The decompressed bytes of a ``.zst`` file, frame after frame; a file that ends inside a
    frame (a truncated download) is an error, where zstandard's ``stream_reader`` would just stop
    and hand back the requests read so far."""

    def __init__(self, path: Path, raw: BinaryIO) -> None:
        self._path, self._raw = path, raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = self._dctx.decompressobj()
        self._pending = b""  # decompressed bytes not yet handed out
        self._started = False  # bytes of the current frame seen

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._started and not self._frame.eof:
                    raise FeedlearnError(f"{self._path}: the zstd file is truncated (it ends inside a frame)")
                return 0
            while chunk:
                if self._frame.eof:  # the next frame of a multi-frame file
                    self._frame = self._dctx.decompressobj()
                self._started = True
                self._pending += self._frame.decompress(chunk)
                chunk = self._frame.unused_data if self._frame.eof else b""
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def binary_stream(path: Path, raw: BinaryIO) -> BinaryIO:
    """The file's bytes, decompressed as a stream when it is ``.zst``."""
    if path.suffix != ".zst":
        return raw
    return io.BufferedReader(_ZstdStream(path, raw), 1 << 20)


def _decode_error_line(path: Path) -> FeedlearnError:
    """The first line that is not UTF-8, found by a second pass (only taken when decoding failed).

    The fast path decodes in large chunks, whose error offsets say nothing about lines.
    """
    with open(path, "rb") as raw:
        for line_no, line in enumerate(binary_stream(path, raw), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = line[exc.start]
                return located(path, line_no, f"byte 0x{byte:02x} at column {exc.start + 1} is not UTF-8 text")
    return FeedlearnError(f"{path}: the file is not UTF-8 text")


@contextmanager
def open_text(path: Path) -> Iterator[TextIO]:
    """Open ``path`` for reading text, transparently decompressing ``.zst`` files as a stream.

    Bytes that are not UTF-8 and a corrupt ``.zst`` stream are one-line errors naming the file
    (and, for undecodable bytes, the line).
    """
    check_trace_file(path)
    raw = open(path, "rb")
    try:
        yield io.TextIOWrapper(binary_stream(path, raw), encoding="utf-8", errors="strict", newline="")
    except UnicodeDecodeError:
        raise _decode_error_line(path) from None
    except zstandard.ZstdError as exc:
        raise FeedlearnError(f"{path}: cannot decompress the file ({exc})") from None
    finally:
        raw.close()
