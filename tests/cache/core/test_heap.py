"""The indexed heap against Python's sorted order under random pushes, updates and removals."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from feedlearn.cache.core import heap

OPS = st.tuples(st.sampled_from(["push", "update", "remove", "pop"]), st.integers(0, 19), st.integers(-5, 5))


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=80))
def test_heap_matches_a_sorted_reference(ops):
    h = heap.new_heap(20)
    ref: dict[int, tuple[float, int]] = {}
    for step, (op, o, k) in enumerate(ops):
        if op == "push" and o not in ref:
            heap.push(h, o, float(k), step)
            ref[o] = (float(k), step)
        elif op == "update" and o in ref:
            heap.update(h, o, float(k), step)
            ref[o] = (float(k), step)
        elif op == "remove" and o in ref:
            heap.remove(h, o)
            del ref[o]
        elif op == "pop" and ref:
            expected = min(ref, key=lambda x: ref[x])
            assert heap.pop(h) == expected
            del ref[expected]
        assert h[4][0] == len(ref)
        if ref:
            assert heap.peek(h) == min(ref, key=lambda x: ref[x])
    assert sorted(np.flatnonzero(h[3] >= 0).tolist()) == sorted(ref)
