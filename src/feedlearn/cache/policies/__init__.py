"""Eviction policies: one file each, registered by name in ``POLICIES`` (one line per policy).

Spell a policy as ``name`` or ``name(param=value,...)``, e.g. ``s3fifo(small_ratio=0.1)``;
:func:`make_policy` turns the spelling into an instance.
"""

from __future__ import annotations

import ast
import inspect
import re

from feedlearn.cache.core.policy import Policy, SimContext
from feedlearn.cache.halp.policy import HALP
from feedlearn.cache.lrb.policy import LRB
from feedlearn.cache.policies.arc import ARC
from feedlearn.cache.policies.belady import Belady
from feedlearn.cache.policies.belady_size import BeladySize
from feedlearn.cache.policies.clock import Clock
from feedlearn.cache.policies.fifo import FIFO
from feedlearn.cache.policies.gdsf import GDSF
from feedlearn.cache.policies.lecar import LeCaR
from feedlearn.cache.policies.lfu import LFU
from feedlearn.cache.policies.lhd import LHD
from feedlearn.cache.policies.lirs import LIRS
from feedlearn.cache.policies.lru import LRU
from feedlearn.cache.policies.s3fifo import S3FIFO
from feedlearn.cache.policies.sieve import Sieve
from feedlearn.cache.policies.twoq import TwoQ
from feedlearn.cache.policies.wtinylfu import WTinyLFU
from feedlearn.common.errors import FeedlearnError

POLICIES: dict[str, type[Policy]] = {
    "lru": LRU,
    "fifo": FIFO,
    "clock": Clock,
    "sieve": Sieve,
    "arc": ARC,
    "s3fifo": S3FIFO,
    "lfu": LFU,
    "gdsf": GDSF,
    "lhd": LHD,
    "twoq": TwoQ,
    "lirs": LIRS,
    "wtinylfu": WTinyLFU,
    "lecar": LeCaR,
    "belady": Belady,  # offline: needs next-access times
    "belady_size": BeladySize,  # offline, size-aware
    "halp": HALP,  # learned: heuristic candidates re-ranked by a model trained from feedback
    "lrb": LRB,  # learned: sampled candidates ranked by a GBM next-access regressor (NSDI'20)
}

_SPEC = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*(?:\((.*)\))?\s*$")


def split_policy_list(text: str) -> list[str]:
    """Split ``"lru,s3fifo(small_ratio=0.1,x=2),arc"`` on the commas outside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += (char == "(") - (char == ")")
        if depth < 0:
            raise FeedlearnError(f"policy list {text!r}: unbalanced parentheses")
        current.append(char)
    if depth != 0:
        raise FeedlearnError(f"policy list {text!r}: unbalanced parentheses")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text  # a bare word such as heuristic=lru


def make_policy(spec: str | Policy, *, seed: int = 0) -> Policy:
    """Build a policy from ``name`` or ``name(k=v,...)``; unknown names or params are user errors."""
    if isinstance(spec, Policy):
        return spec
    match = _SPEC.match(spec)
    if not match:
        raise FeedlearnError(f"policy {spec!r}: expected name or name(param=value,...)")
    name, args = match.group(1).lower().replace("-", "").replace("_", ""), match.group(2)
    cls = next((c for key, c in POLICIES.items() if key.replace("_", "") == name), None)
    if cls is None:
        raise FeedlearnError(f"unknown policy {match.group(1)!r}; choose from {', '.join(POLICIES)}")
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    kwargs: dict[str, object] = {"seed": seed}
    for item in split_policy_list(args or ""):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            raise FeedlearnError(
                f"policy {cls.name}: unknown parameter {item!r}; parameters: {', '.join(allowed) or 'none'}"
            )
        kwargs[key] = _literal(value.strip())
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise FeedlearnError(f"policy {spec!r}: {exc}") from None


__all__ = ["POLICIES", "Policy", "SimContext", "make_policy", "split_policy_list"]
