"""What every strategy of ``STRATEGIES`` must do, from the shared 4-process launch (2 nodes x 2 ranks).

Parametrised over the registry plus a strategy registered by the test (``conftest.NEW_STRATEGY``),
so a new member is held to the same contract: it trains, keeps loss parity with ZeRO-3, and its
bytes are accounted (every collective counted, the same bytes every step, never more cross-node
traffic than ZeRO-3).
"""

from __future__ import annotations

import json
import math

import pytest

from feedlearn.dist.zeropp import STRATEGIES
from tests.dist.conftest import NEW_STRATEGY, STEPS

MEMBERS = sorted(STRATEGIES) + sorted(NEW_STRATEGY)


def test_new_strategy_is_not_already_registered():
    assert not set(NEW_STRATEGY) & set(STRATEGIES)  # the fixture removed it again after the launch


@pytest.mark.parametrize("strategy", MEMBERS)
def test_trains_with_finite_losses(result, strategy):
    run = result["train"][strategy]
    assert run["strategy"] == strategy
    assert len(run["losses"]) == STEPS and all(math.isfinite(v) for v in run["losses"])
    assert run["losses"][-1] < 0.9 * run["losses"][0]


@pytest.mark.parametrize("strategy", MEMBERS)
def test_keeps_loss_parity_with_zero3(result, strategy):
    def tail(name: str) -> float:
        return sum(result["train"][name]["losses"][-5:]) / 5

    assert tail(strategy) == pytest.approx(tail("zero3"), rel=0.01)  # the documented 1% over the last 5 steps


@pytest.mark.parametrize("strategy", MEMBERS)
def test_bytes_are_accounted(result, strategy):
    steps = result["train"][strategy]["bytes"]
    assert len(steps) == STEPS
    assert len({json.dumps(step, sort_keys=True) for step in steps}) == 1  # no step counted twice or skipped
    step = steps[0]
    kinds = {kind for kind in step if kind != "total"}
    flags = {**STRATEGIES, **NEW_STRATEGY}[strategy]
    # weights are gathered and gradients reduced, quantized exactly when the strategy says so
    assert any(k.startswith("all_gather") for k in kinds) and any(k.startswith("reduce_scatter") for k in kinds)
    assert ("all_gather_q" in kinds) == flags["qwz"]
    assert any(k.startswith("reduce_scatter_q") for k in kinds) == flags["qgz"]
    for where in ("intra", "cross"):
        assert step["total"][where] == sum(step[kind][where] for kind in kinds)
    assert step["total"]["cross"] > 0  # 2 nodes: something crosses
    zero3 = result["train"]["zero3"]["bytes"][0]["total"]["cross"]
    if any(flags.values()):
        assert step["total"]["cross"] < zero3
    else:
        assert step["total"]["cross"] == zero3
