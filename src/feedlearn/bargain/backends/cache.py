"""A per-call cache of completions, keyed by (backend, messages, params): a rerun is free and exact.

SQLite (standard library) in one file: safe for the many concurrent games of one process, and a
crash never leaves a half-written entry. Sampling with ``temperature > 0`` makes a fresh call
differ from the last; the cache returns what was answered the first time, so a rerun of an
experiment reproduces it exactly.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from feedlearn.bargain.backends.base import Message, Params


class CachedBackend:
    def __init__(self, inner: Any, path: str | Path) -> None:
        self.inner, self.name = inner, inner.name
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
        self.hits = self.misses = 0

    @staticmethod
    def key(name: str, messages: list[Message], params: Params) -> str:
        blob = json.dumps([name, messages, asdict(params)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def complete(self, messages: list[Message], params: Params) -> str:
        key = self.key(self.name, messages, params)
        row = self.db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if row is not None:
            self.hits += 1
            return row[0]
        self.misses += 1
        reply = await self.inner.complete(messages, params)
        with self.db:  # one transaction: the entry is there whole or not at all
            self.db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (key, reply))
        return reply
