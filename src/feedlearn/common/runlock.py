"""One writer per run folder: a training, an experiment or a sweep holds ``folder/.lock`` while it writes.

Two processes appending to one ``runs.jsonl`` or saving checkpoints into one folder corrupt each
other's work silently; the second one must stop at once instead. ``flock`` is used (not a PID
file) because the kernel drops it when the holder dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from feedlearn.common.errors import FeedlearnError

LOCK = ".lock"


class Busy(Exception):
    """Another process holds the lock; ``holder`` is what it wrote at the start of the file."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def open_locked(path: str | os.PathLike[str], flags: int, purpose: str) -> int:
    """Open ``path`` (created 0644, never through a symlink) and take its ``flock`` without waiting.

    Returns the descriptor; closing it releases the lock. Raises a one-line ``FeedlearnError`` if
    the file cannot be opened (``purpose`` names it: "the run's lock file"), and :class:`Busy` (the
    descriptor closed) if another process holds the lock.
    """
    try:  # O_NOFOLLOW: a planted symlink must not make us write somewhere else
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise FeedlearnError(f"{path}: cannot open {purpose} ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise Busy(holder) from None
        raise
    return fd


@contextlib.contextmanager
def exclusive(folder: str | os.PathLike[str], what: str = "run", instead: str = "use another folder") -> Iterator[None]:
    """Hold ``folder/.lock`` while the block runs; a second holder gets a one-line error naming the first.

    ``what`` names the kind of job in that error ("another training (pid 4242) is writing to ..."),
    ``instead`` what the user can do about it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    try:
        fd = open_locked(path, os.O_RDWR, "the run's lock file")
    except Busy as busy:
        who = f"pid {busy.holder}" if busy.holder.isdigit() else "another process"
        raise FeedlearnError(f"{path}: another {what} ({who}) is writing to {folder}; wait for it to finish or "
                             f"{instead}") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
