"""Atomic file writes: readers never see a half-written output, even if the job is killed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success fsync it and rename it over ``path``.

    The rename is atomic on POSIX within one file system, which is why the temporary file lives in
    the destination folder. On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = check_writable(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # name the file the user asked for, not our temporary one
        raise OSError(exc.errno, f"cannot write there ({exc.strerror})", str(target)) from None
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def check_writable(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path if an output can be written there; else ``OSError`` naming it.

    Called before long jobs so that a typo in an output path fails in the first second, not after
    hours of work: the path must not be a directory and its nearest existing parent must be a
    writable directory.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(21, "is a directory, expected a file name", str(target))
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(20, f"{parent} is not a directory", str(target))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(13, f"cannot write in {parent}", str(target))
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)
