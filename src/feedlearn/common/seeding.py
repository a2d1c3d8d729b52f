"""Seeding: every stochastic component takes a seed; these helpers turn one into generators."""

from __future__ import annotations

import random

import numpy as np


def make_rng(seed: int | None) -> np.random.Generator:
    """A numpy Generator for ``seed`` (PCG64); ``None`` is refused so results stay reproducible."""
    if seed is None:
        raise ValueError("a seed is required for reproducible results")
    return np.random.default_rng(int(seed))


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's legacy and (when installed) torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # torch is optional for the cache part
        return
    torch.manual_seed(seed)
