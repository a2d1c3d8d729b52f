"""The README's "Adding a policy", walked through: lru.py copied and changed into MRU, one line in
``POLICIES``, and the new member is built by name, simulated and held to the loop's invariants."""

from __future__ import annotations

from numba import njit

from feedlearn.cache.core import dlist
from feedlearn.cache.core.policy import Policy, SimContext, linked_list
from feedlearn.cache.policies import POLICIES, make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from tests.cache.conftest import checked_run, make_trace


# --- a copy of policies/lru.py with a new name and one hook changed (as the README says) ----------
@njit
def _on_hit(state, obj, size, i):
    prev, nxt, ends = state
    dlist.move_to_head(prev, nxt, ends, obj)


@njit
def _evict(state, obj, size, i):  # the one change: evict the most recently used object
    prev, nxt, ends = state
    head = ends[0]
    dlist.unlink(prev, nxt, ends, head)
    return head


@njit
def _on_insert(state, obj, size, i):
    prev, nxt, ends = state
    dlist.push_head(prev, nxt, ends, obj)


class MRU(Policy):
    """Most Recently Used."""

    name = "mru"
    on_hit = _on_hit
    evict = _evict
    on_insert = _on_insert

    def init_state(self, ctx: SimContext) -> tuple:
        return linked_list(ctx.n_objects)
# ----------------------------------------------------------------------------------------------------


def test_a_policy_added_as_the_readme_says_is_built_by_name_and_simulated(monkeypatch):
    monkeypatch.setitem(POLICIES, "mru", MRU)  # the one line in policies/__init__.py
    # capacity 2: 1 2 | 3 evicts 2 (most recent) | 1 hits | 2 evicts 1 (now most recent) | 3 hits | 1 misses
    trace = make_trace([1, 2, 3, 1, 2, 3, 1])
    expected = [False, False, False, True, False, True, False]
    assert run_policy(PreparedTrace.of(trace), make_policy("mru"), 2).tolist() == expected
    assert checked_run(trace, "mru", 2) == expected  # the contract suite's checked replay agrees
    assert make_policy("mru").describe() == "mru"
