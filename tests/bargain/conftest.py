"""Fixtures shared by the bargain tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny untrained chat model (built once per session: ``bargain serve`` and the backend contract use it)."""
    from feedlearn.tune.tiny import TinyConfig, init_tiny

    corpus = ["I can do $15 for the balloon. Deal! How about $12? No, $18 is my price. yes no"] * 40
    return init_tiny(tmp_path_factory.mktemp("m") / "m", TinyConfig(vocab_size=300, hidden_size=32, layers=1, heads=2,
                                                                    intermediate_size=64, max_positions=512),
                     texts=iter(corpus))
