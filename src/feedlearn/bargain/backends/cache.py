"""A per-call cache of completions, keyed by (backend identity, messages, params): a rerun is free and exact.

SQLite (standard library) in one file: safe for the many concurrent games of one process, and a
crash never leaves a half-written entry. Sampling with ``temperature > 0`` makes a fresh call
differ from the last; the cache returns what was answered the first time, so a rerun of an
experiment reproduces it exactly.

The key holds everything that decides a reply: the backend's ``identity`` (kind, model and server
URL — the same model name on another server is another model) or, failing that, its class and
name; the messages; every field of ``Params``. An entry that is not a non-empty text (an older
version's empty reply, a hand-edited file) is a miss and is replaced, never played.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from feedlearn.bargain.backends.base import BaseBackend, Message, Params
from feedlearn.common.errors import FeedlearnError


def identity(backend: Any) -> str:
    """What the cache keys a backend's replies on (module docstring)."""
    explicit = getattr(backend, "identity", None)
    return explicit if isinstance(explicit, str) else f"{type(backend).__qualname__}:{backend.name}"


class CachedBackend(BaseBackend):
    """``inner`` behind the cache; an experiment wraps every backend whose ``llm`` is true (one per run dir)."""

    def __init__(self, inner: Any, path: str | Path) -> None:
        self.inner, self.name = inner, inner.name
        self.identity = identity(inner)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path))
            self.db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
        except sqlite3.Error as exc:  # not an SQLite file, or one we cannot open: we never delete it
            raise FeedlearnError(f"{self.path}: cannot use it as the reply cache ({exc}); move it away or "
                                 "turn the cache off (cache: false)") from None
        self.hits = self.misses = 0

    @staticmethod
    def key(identity: str, messages: list[Message], params: Params) -> str:
        blob = json.dumps([identity, messages, asdict(params)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def complete(self, messages: list[Message], params: Params) -> str:
        key = self.key(self.identity, messages, params)
        try:
            row = self.db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise FeedlearnError(f"{self.path}: cannot read the reply cache ({exc})") from None
        if row is not None and isinstance(row[0], str) and row[0].strip():
            self.hits += 1
            return row[0]
        self.misses += 1
        reply = await self.inner.complete(messages, params)
        try:
            with self.db:  # one transaction: the entry is there whole or not at all
                self.db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (key, reply))
        except sqlite3.Error as exc:
            raise FeedlearnError(f"{self.path}: cannot write the reply cache ({exc})") from None
        return reply
