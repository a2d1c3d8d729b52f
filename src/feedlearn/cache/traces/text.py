"""Opening text traces that may be zstd-compressed (``*.zst``), streaming line by line."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import zstandard

from feedlearn.common.errors import FeedlearnError


@contextmanager
def open_text(path: Path) -> Iterator[TextIO]:
    """Open ``path`` for reading text, transparently decompressing ``.zst`` files as a stream."""
    if not path.is_file():
        raise FeedlearnError(f"{path}: no such trace file")
    raw = open(path, "rb")
    try:
        if path.suffix == ".zst":
            try:
                stream = zstandard.ZstdDecompressor().stream_reader(raw)
            except zstandard.ZstdError as exc:
                raise FeedlearnError(f"{path}: not a valid zstd file ({exc})") from None
            yield io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")
        else:
            yield io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
    except (zstandard.ZstdError, UnicodeDecodeError) as exc:
        raise FeedlearnError(f"{path}: cannot decode the file ({exc})") from None
    finally:
        raw.close()
