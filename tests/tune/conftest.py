"""Tiny tokenizers and models made in fixtures (nothing is downloaded)."""

from __future__ import annotations

import pytest

CORPUS = [
    "The quick brown fox jumps over the lazy dog. Sort the numbers: 3 1 2 gives 1 2 3.",
    "Reverse the word cache to get ehcac. Numbers 0 1 2 3 4 5 6 7 8 9 and letters a b c d e f.",
    "A user asks a question and the assistant answers it. Hello there, how are you? I am fine.",
] * 20


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A tiny model dir (vocab 320, 2 layers, hidden 32, chatml) built from CORPUS."""
    from feedlearn.tune.tiny import TinyConfig, init_tiny

    config = TinyConfig(vocab_size=320, hidden_size=32, layers=2, heads=2, intermediate_size=64, max_positions=256)
    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", config, texts=iter(CORPUS))


@pytest.fixture(scope="session")
def reward_dir(tiny_dir, tmp_path_factory):
    """A reward model on ``tiny_dir`` that prefers correct sort answers over "I do not know."."""
    from feedlearn.common.config import load_config
    from feedlearn.tune.data import save_dataset
    from feedlearn.tune.stages import STAGES, RewardConfig, run_stage
    from tests.tune.test_reward import preference_pairs

    tmp = tmp_path_factory.mktemp("rm")
    train = save_dataset(preference_pairs(64, seed=1), tmp / "train.json")
    config = load_config(RewardConfig, None, {"model": str(tiny_dir), "data": str(train), "output_dir": str(tmp / "rm"),
                                              "max_steps": 30, "batch_size": 8, "lr": 3e-3, "save_steps": 100})
    return run_stage(STAGES["reward"](), config)["model"]
