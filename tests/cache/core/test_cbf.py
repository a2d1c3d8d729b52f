"""libCacheSim's counting Bloom filter: hashes, shape, counters (W-TinyLFU's sketch)."""

from __future__ import annotations

import numpy as np

from feedlearn.cache.core import cbf


def test_sketch_hashes_and_shape_are_libcachesims():
    # XXH64 of the id's 8 bytes (reference values of the xxHash library), and the filter's shape
    ids = np.array([0, 1, 42], dtype=np.uint64)
    assert [hex(int(h)) for h in cbf.xxh64_u64(ids, cbf.SEED0)] == [
        "0x67bb774d39f5d473", "0x71b9484a2374097", "0xf78b4ad534607625"]
    assert [hex(int(h)) for h in cbf.xxh64_u64(ids, cbf.SEED1)] == [
        "0xc2a64453b85a5e79", "0x83e9f36fcb5854bf", "0xca6b830118405888"]
    assert cbf.shape(18_500) == (10, 265_986)
    assert cbf.shape(200_000_000) == (10, 2**31 - 1)  # capped at INT_MAX counters
    assert cbf.shape(0) == (10, 20)


def test_positions_are_renumbered_densely_and_counters_add_and_decay():
    pos, distinct = cbf.positions(np.arange(3, dtype=np.uint64), 8)  # 116 counters, 10 per key
    assert pos.shape == (3, 10) and pos.max() == len(distinct) - 1 and distinct.max() < 116
    counts = np.zeros(len(distinct), dtype=np.uint32)
    for _ in range(3):
        cbf.add(pos, counts, 1)
    cbf.add(pos, counts, 2)
    assert cbf.estimate(pos, counts, 1) == 3 and cbf.estimate(pos, counts, 0) <= 1
    cbf.decay(counts)
    assert cbf.estimate(pos, counts, 1) == 1  # 3 >> 1
