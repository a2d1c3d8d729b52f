"""HALP: Heuristic-Aided Learned Preference eviction (NSDI'23) — see README.md in this folder."""

from feedlearn.cache.halp.policy import HALP

__all__ = ["HALP"]
