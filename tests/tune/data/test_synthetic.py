"""Synthetic tasks: correct answers, both formats valid, seeded."""

from __future__ import annotations

import pytest

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data.io import check_instance
from feedlearn.tune.data.synthetic import synthetic_dataset


def test_answers_are_right_and_data_is_valid():
    data = synthetic_dataset(200, tasks=("sort", "reverse", "max"), seed=5)
    for inst in data.instances:
        check_instance("text2text", inst)
        task, _, rest = inst["input"].partition(": ")
        xs = [int(x) for x in rest.removesuffix(" =").split()]
        expected = {"sort": sorted(xs), "reverse": xs[::-1], "max": [max(xs)]}[task]
        assert inst["output"] == " ".join(map(str, expected)) and 3 <= len(xs) <= 5
    conv = synthetic_dataset(50, fmt="conversation", seed=5)
    for inst in conv.instances:
        check_instance("conversation", inst)
    assert len({i["messages"][0]["content"].split(":")[0] for i in conv.instances}) > 2  # varied phrasings


def test_seeded():
    assert synthetic_dataset(30, seed=1).instances == synthetic_dataset(30, seed=1).instances
    assert synthetic_dataset(30, seed=1).instances != synthetic_dataset(30, seed=2).instances


@pytest.mark.parametrize(("kwargs", "message"), [({"tasks": ("divide",)}, "unknown synthetic task 'divide'"),
                                                 ({"fmt": "text_only"}, "text2text or conversation"),
                                                 ({"min_len": 4, "max_len": 2}, "min_len <= max_len")])
def test_bad_options(kwargs, message):
    with pytest.raises(FeedlearnError, match=message):
        synthetic_dataset(3, **kwargs)
