"""A sweep's journal: each finished (trace, policy) task is appended as it completes.

A sweep over many traces, policies and sizes runs for hours; a crash (or Ctrl-C) must cost only the
tasks in flight. ``feedlearn cache sim --json OUT`` keeps ``OUT.partial.jsonl`` while it runs: one
JSON line per finished task, flushed and fsynced. Run the same command again and the finished tasks
are read back instead of simulated; when the sweep completes, ``OUT`` is written atomically and the
journal removed.

A task is keyed by everything its results depend on: the trace's content (a digest of its ids and
sizes, not its file name), the policy spec, the sizes and the simulation settings. A rerun with
other settings therefore re-simulates instead of reusing results that no longer apply.

One writer at a time: the journal is ``flock``-ed while the sweep runs (``common.runlock.open_locked``;
the kernel drops the lock if the process dies, so a crash never leaves a stale one). A last line cut short by a crash is
ignored (that task runs again); any other bad line is a one-line error naming the file and line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter, ValidationError

from feedlearn.cache.simulator import PreparedTrace, SimResult
from feedlearn.cache.streaming import StreamedTrace
from feedlearn.common.errors import FeedlearnError, first_error
from feedlearn.common.runlock import Busy, open_locked

HEADER = {"journal": "feedlearn cache sweep", "version": 1}
MAX_JOURNAL_BYTES = 4 << 30  # read whole on resume; a sweep's records (HALP's curves included) are far below this
_RESULTS = TypeAdapter(list[SimResult])


def journal_path(results: str | os.PathLike[str]) -> Path:
    """The journal kept next to a sweep's results file while the sweep runs."""
    results = Path(results)
    return results.with_name(results.name + ".partial.jsonl")


def trace_digest(prepared: PreparedTrace | StreamedTrace) -> str:
    """A digest of what a simulation reads from the trace: object ids, sizes and times.

    One hash per array, then a hash of the three, so that a streamed trace's scan computes the same
    digest chunk by chunk (``StreamedTrace.digest``): a sweep resumes whichever way it replays.
    """
    if isinstance(prepared, StreamedTrace):
        return prepared.digest
    parts = []
    for array in (prepared.trace.obj_id, prepared.size, prepared.trace.time):
        parts.append(hashlib.blake2b(memoryview(np.ascontiguousarray(array)).cast("B"), digest_size=16).digest())
    return hashlib.blake2b(b"".join(parts), digest_size=16).hexdigest()


def task_key(digest: str, policy: str, sizes: list, settings: dict) -> str:
    """The journal's key of one task (one trace and policy at every size)."""
    return json.dumps([digest, policy, [str(s) for s in sizes], settings], sort_keys=True)


class SweepJournal:
    """The journal at ``path``: read what earlier runs finished, then append as tasks finish."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.reused = 0  # cells a sweep took from here instead of simulating them (``sweep`` counts)
        try:
            self._fd = open_locked(self.path, os.O_RDWR | os.O_APPEND, "the sweep's journal")
        except Busy:
            raise FeedlearnError(f"{self.path}: another sweep is writing these results; wait for it to finish "
                                 "or give another --json path") from None
        try:
            self.finished = self._read()
        except BaseException:
            os.close(self._fd)
            raise

    def _read(self) -> dict[str, list[SimResult]]:
        size = os.fstat(self._fd).st_size
        if size > MAX_JOURNAL_BYTES:
            raise FeedlearnError(f"{self.path}: {size} bytes is too large for a sweep journal")
        data = os.pread(self._fd, size, 0)
        if not data.endswith(b"\n"):  # the last line was cut short by a crash: that task runs again
            data = data[: data.rfind(b"\n") + 1]
            os.ftruncate(self._fd, len(data))
        if not data:
            self._append(HEADER)
            return {}
        finished: dict[str, list[SimResult]] = {}
        for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
            try:
                entry = json.loads(raw)
            except ValueError:  # bad JSON or bad UTF-8
                raise FeedlearnError(f"{self.path}:{number}: not a JSON line of a sweep journal") from None
            if number == 1:
                if entry != HEADER:
                    raise FeedlearnError(f"{self.path}:1: not a feedlearn sweep journal; refusing to append to a file "
                                         "we did not write (move it, or give another --json path)")
                continue
            finished.update([self._task(entry, number)])
        return finished

    def _task(self, entry: object, number: int) -> tuple[str, list[SimResult]]:
        where = f"{self.path}:{number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("task"), str) or "results" not in entry:
            raise FeedlearnError(f"{where}: a journal line needs 'task' (text) and 'results'")
        try:
            results = _RESULTS.validate_python(entry["results"])
        except ValidationError as exc:
            field, message = first_error(exc)
            raise FeedlearnError(f"{where}: results.{field}: {message}") from None
        for r in results:
            ratios = (r.object_miss_ratio, r.byte_miss_ratio, r.p95_window_byte_miss_ratio, *r.window_byte_miss_ratios)
            if not all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in ratios):
                raise FeedlearnError(f"{where}: results: a miss ratio outside [0, 1]")
        return entry["task"], results

    def _append(self, entry: dict) -> None:
        os.write(self._fd, (json.dumps(entry) + "\n").encode())
        os.fsync(self._fd)

    def record(self, key: str, results: list[SimResult]) -> None:
        """Append one finished task (one line: written whole or, after a crash, ignored)."""
        self._append({"task": key, "results": [dataclasses.asdict(r) for r in results]})
        self.finished[key] = results

    def close(self, *, remove: bool) -> None:
        """Release the lock; ``remove``: the sweep is complete and its results are saved elsewhere."""
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
