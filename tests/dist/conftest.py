"""The one 4-process launch (2 nodes x 2 ranks) that the ZeRO++ tests and the strategy contract share."""

from __future__ import annotations

import pytest

from feedlearn.dist.launch import launch
from feedlearn.dist.train import RunConfig
from feedlearn.dist.zeropp import STRATEGIES
from tests.dist import workers

STEPS = 20
# A strategy registered the way src/feedlearn/dist/README.md ("Adding a strategy") says: one line.
NEW_STRATEGY = {"qwz_hpz": {"qwz": True, "hpz": True, "qgz": False}}


@pytest.fixture(scope="session")
def result():
    """Every strategy of the registry, plus ``NEW_STRATEGY`` registered in the parent and in each rank."""
    STRATEGIES.update(NEW_STRATEGY)
    try:
        # the gloo tier: on the CPU even where GPUs exist (workers.checks compares with FSDP2 on a CPU mesh)
        config = RunConfig(strategies=sorted(STRATEGIES), steps=STEPS, ranks_per_node=2, device="cpu")
        return launch(workers.checks, (config, NEW_STRATEGY), nproc=4, device="cpu")[0]
    finally:
        for name in NEW_STRATEGY:
            STRATEGIES.pop(name)
