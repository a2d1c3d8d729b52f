"""``feedlearn cache compile``: every policy, and HALP on every built-in heuristic, replayed once."""

from __future__ import annotations

from feedlearn.cache.halp.heuristics import HEURISTICS
from feedlearn.cache.policies import POLICIES
from feedlearn.cache.precompile import compile_specs, precompile


def test_the_specs_cover_every_policy_and_every_other_heuristic_once():
    specs = compile_specs()
    assert len(specs) == len(set(specs)) and set(POLICIES) <= set(specs)
    assert {f"halp(heuristic={h})" for h in HEURISTICS if h != "lru"} <= set(specs)
    assert specs[:2] == ["halp", "lrb"]  # the slowest to compile first


def test_precompile_replays_what_it_is_given():
    assert precompile(["lru", "fifo"], jobs=1, progress=False) == 2
