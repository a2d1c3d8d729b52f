"""Tiny tokenizers, models and datasets shared by the tune tests (nothing is downloaded).

Plain helpers (``preference_pairs``, ``sort_conversations``, ``sort_prompts``, ``CORPUS``, ``DATA``) are
imported from here by the test modules; the models are session fixtures, trained once per run.
"""

from __future__ import annotations

import random

import pytest

from feedlearn.common.config import load_config
from feedlearn.shipped import folder
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.stages import STAGES, RewardConfig, run_stage
from feedlearn.tune.tiny import TinyConfig, init_tiny

DATA = folder("datasets")  # the shipped LMFlow-style samples

CORPUS = [
    "The quick brown fox jumps over the lazy dog. Sort the numbers: 3 1 2 gives 1 2 3.",
    "Reverse the word cache to get ehcac. Numbers 0 1 2 3 4 5 6 7 8 9 and letters a b c d e f.",
    "A user asks a question and the assistant answers it. Hello there, how are you? I am fine.",
] * 20


def preference_pairs(n, seed=0):
    """``n`` sort requests: the sorted numbers (chosen) against "I do not know." (rejected)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        xs = [rng.randrange(10) for _ in range(3)]
        prompt = {"role": "user", "content": "Please sort: " + " ".join(map(str, xs))}
        good = " ".join(map(str, sorted(xs)))
        rows.append({"chosen": {"messages": [prompt, {"role": "assistant", "content": good}]},
                     "rejected": {"messages": [prompt, {"role": "assistant", "content": "I do not know."}]}})
    return TuneDataset("paired_conversation", rows)


def sort_conversations(n=25):
    return [{"messages": [{"role": "user", "content": f"Sort {a} {b}"},
                          {"role": "assistant", "content": f"{min(a, b)} {max(a, b)}"}]}
            for a in range(5) for b in range(5)][:n]


def sort_prompts(tmp_path, n=16):
    """A conversation file of ``n`` sort requests with their correct answers (RAFT uses the prompts)."""
    prompts = TuneDataset("conversation", [inst["chosen"] for inst in preference_pairs(n, seed=3).instances])
    return save_dataset(prompts, tmp_path / "prompts.json")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """A tiny model dir (vocab 320, 2 layers, hidden 32, chatml) built from CORPUS."""
    config = TinyConfig(vocab_size=320, hidden_size=32, layers=2, heads=2, intermediate_size=64, max_positions=256)
    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", config, texts=iter(CORPUS))


@pytest.fixture(scope="session")
def reward_dir(tiny_dir, tmp_path_factory):
    """A reward model on ``tiny_dir`` that prefers correct sort answers over "I do not know."."""
    tmp = tmp_path_factory.mktemp("rm")
    train = save_dataset(preference_pairs(64, seed=1), tmp / "train.json")
    config = load_config(RewardConfig, None, {"model": str(tiny_dir), "data": str(train), "output_dir": str(tmp / "rm"),
                                              "max_steps": 30, "batch_size": 8, "lr": 3e-3, "save_steps": 100})
    return run_stage(STAGES["reward"](), config)["model"]
