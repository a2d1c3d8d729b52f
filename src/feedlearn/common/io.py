"""Atomic file and folder writes: readers never see a half-written output, even if the job is killed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from feedlearn.common.errors import FeedlearnError


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success fsync it and rename it over ``path``.

    The rename is atomic on POSIX within one file system, which is why the temporary file lives in
    the destination folder. On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    if target.is_dir():  # os.replace would fail only after the work; long jobs check first (common.outputs)
        raise IsADirectoryError(21, "is a folder; give a file name", str(target))
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


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_dir(target: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Fill a folder through ``write(tmp)`` and rename it to ``target``: readers never see half of it.

    An old ``target`` is renamed aside first and removed only once the new one is in place; leftovers of
    a run killed mid-save (``.NAME.tmp``, ``.NAME.old`` next to ``target``) are removed first.
    """
    target = Path(target)
    tmp, old = target.with_name(f".{target.name}.tmp"), target.with_name(f".{target.name}.old")
    for leftover in (tmp, old):
        _remove(leftover)
    tmp.mkdir(parents=True)
    write(tmp)
    if target.exists() or target.is_symlink():
        os.replace(target, old)
    os.replace(tmp, target)
    _remove(old)
    return target


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


MAX_SETTINGS_BYTES = 16 * 2**20  # a config, recipe, scenario or run record is pages of text, not this


def read_text_file(path: str | os.PathLike[str], what: str = "file", limit: int = MAX_SETTINGS_BYTES) -> str:
    """The UTF-8 text of a small file we parse whole (a config, recipe, scenario, run record).

    Read with a bound, so ``/dev/zero`` or a huge file given by mistake is an error, not all of
    memory; every failure is one ``FeedlearnError`` naming the file (and the line of a bad byte).
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise FeedlearnError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise FeedlearnError(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise FeedlearnError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise FeedlearnError(f"{path}: larger than {limit / 2**20:g} MiB; a {what} is at most that")
    return decode_utf8(path, data)


def decode_utf8(path: str | os.PathLike[str], data: bytes, line: int | None = None) -> str:
    """``data`` (read from ``path``) as UTF-8 text; a bad byte is ``path:line: not UTF-8 text (byte 0x..)``.

    ``line`` is where ``data`` starts in the file when it is one line of it; else it is counted.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = line if line is not None else data.count(b"\n", 0, exc.start) + 1
        raise FeedlearnError(f"{path}:{where}: not UTF-8 text (byte {data[exc.start]:#04x})") from None
