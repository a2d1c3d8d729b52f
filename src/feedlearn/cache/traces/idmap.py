"""A growing map from a trace's object ids (uint64) to dense ids ``0, 1, 2, ...`` in first-seen order.

Policies keep arrays over dense ids. A whole trace in memory is remapped at once with ``np.unique``;
a trace read in chunks is remapped chunk by chunk with this map: an open-addressing hash table
(linear probing, Fibonacci hashing, at most half full) over ``(key, dense id + 1)`` rows, so a
lookup touches one cache line. Memory: 16 bytes per table row, 2–4 rows per object, plus the
(n_objects,) keys in first-seen order — ~40–72 bytes per object, none per request.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: spreads consecutive ids over the table


@njit(cache=True, inline="always")
def _row(table, key, shift, mask):
    """The row holding ``key``, or the empty row where it would go."""
    j = np.int64((key * _GOLDEN) >> shift)
    while table[j, 1] != 0 and table[j, 0] != key:
        j = (j + 1) & mask
    return j


@njit(cache=True)
def _insert(table, shift, keys, count, ids, sizes, dense):
    """Remap ``ids`` into ``dense``, adding unseen ids; returns (ids known now, bytes of the new ones)."""
    mask = table.shape[0] - 1
    new_bytes = 0
    for j in range(len(ids)):
        key = ids[j]
        r = _row(table, key, shift, mask)
        if table[r, 1] == 0:
            table[r, 0] = key
            table[r, 1] = np.uint64(count + 1)
            keys[count] = key
            dense[j] = count
            new_bytes += sizes[j]  # first-seen size: libCacheSim's working-set size
            count += 1
        else:
            dense[j] = np.int64(table[r, 1]) - 1
    return count, new_bytes


@njit(cache=True, nogil=True)
def _lookup(table, shift, ids, dense):
    """Remap ``ids`` into ``dense``; -1 for an id the map has never seen."""
    mask = table.shape[0] - 1
    for j in range(len(ids)):
        r = _row(table, ids[j], shift, mask)
        dense[j] = np.int64(table[r, 1]) - 1


@njit(cache=True)
def _rehash(old, table, shift):
    mask = table.shape[0] - 1
    for j in range(old.shape[0]):
        if old[j, 1] != 0:
            r = _row(table, old[j, 0], shift, mask)
            table[r, 0] = old[j, 0]
            table[r, 1] = old[j, 1]


class IdMap:
    """Dense ids for uint64 object ids, assigned in first-seen order as chunks are added."""

    def __init__(self, expected: int = 1024) -> None:
        self.count = 0
        self._keys = np.zeros(max(16, expected), dtype=np.uint64)
        self._alloc(max(16, expected))

    def _alloc(self, objects: int) -> None:
        rows = 1 << max(4, int(2 * objects - 1).bit_length())  # a power of two >= 2 x objects
        self._table = np.zeros((rows, 2), dtype=np.uint64)
        self._shift = np.uint64(64 - (rows.bit_length() - 1))

    def _reserve(self, more: int) -> None:
        need = self.count + more
        if 2 * need > len(self._table):
            old = self._table
            self._alloc(max(need, 2 * self.count))
            _rehash(old, self._table, self._shift)
        if need > len(self._keys):
            self._keys = np.concatenate([self._keys, np.zeros(max(need, 2 * len(self._keys)) - len(self._keys),
                                                              dtype=np.uint64)])

    def add(self, ids: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, int]:
        """Dense ids of ``ids`` (new ones assigned in order of first sight), and the bytes of the new
        objects at their first-seen sizes."""
        self._reserve(len(ids))
        dense = np.empty(len(ids), dtype=np.int64)
        self.count, new_bytes = _insert(self._table, self._shift, self._keys, self.count,
                                        np.ascontiguousarray(ids, dtype=np.uint64),
                                        np.ascontiguousarray(sizes, dtype=np.int64), dense)
        return dense, int(new_bytes)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Dense ids of ``ids``, all of which must have been added."""
        dense = np.empty(len(ids), dtype=np.int64)
        _lookup(self._table, self._shift, np.ascontiguousarray(ids, dtype=np.uint64), dense)
        assert len(dense) == 0 or dense.min() >= 0, "an id the scan did not see"
        return dense

    def keys(self) -> np.ndarray:
        """(count,) uint64: the object id of each dense id."""
        return self._keys[: self.count]

    def __len__(self) -> int:
        return self.count
