"""Policy spellings: ``name`` and ``name(param=value,...)``, split lists, clear errors."""

from __future__ import annotations

import pytest

from feedlearn.cache.policies import POLICIES, make_policy, split_policy_list
from feedlearn.cache.policies.lru import LRU
from feedlearn.common.errors import FeedlearnError


def test_split_respects_parentheses():
    assert split_policy_list("lru, s3fifo(a=1,b=2),arc") == ["lru", "s3fifo(a=1,b=2)", "arc"]
    with pytest.raises(FeedlearnError, match="unbalanced"):
        split_policy_list("lru(a=1")


def test_make_policy_by_name_and_case():
    assert isinstance(make_policy("LRU"), LRU)
    assert make_policy("lru", seed=4).seed == 4
    assert make_policy("lru").describe() == "lru"


def test_parameters_are_parsed_as_literals():
    with_params = [cls for cls in POLICIES.values() if make_policy(cls.name).params()]
    for cls in with_params:
        default = make_policy(cls.name)
        spelled = make_policy(default.describe())
        assert spelled.params() == default.params()  # describe() round-trips


@pytest.mark.parametrize(
    ("spec", "message"),
    [("nosuch", "unknown policy"), ("lru(x=1)", "unknown parameter"), ("lru(", "expected name")],
)
def test_bad_specs(spec, message):
    with pytest.raises(FeedlearnError, match=message):
        make_policy(spec)
