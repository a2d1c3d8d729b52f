"""LRB: Learning Relaxed Belady (NSDI'20), the learned comparator for HALP — see README.md in this folder."""

from feedlearn.cache.lrb.policy import LRB

__all__ = ["LRB"]
