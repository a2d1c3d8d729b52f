"""Bytes each rank sends, per collective and per step, split into intra-node and cross-node.

Counted as if every collective sent each piece directly to the rank that needs it: an all-gather
of ``b`` bytes per rank over ``g`` ranks sends ``b`` to each of the other ``g − 1``; a
reduce-scatter or all-to-all of ``b`` bytes per destination sends ``b`` to each other member.
That is also what ring and tree algorithms move per rank in total ((g − 1)/g of the full
buffer); only the intra/cross split of a real ring can differ, which is why it is counted from
the group's membership, the quantity ZeRO++'s 4x claim is about.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from feedlearn.dist.topology import Topology


@dataclass
class ByteCounter:
    """Per-rank byte counts; ``step()`` closes a training step and starts the next."""

    topology: Topology
    rank: int
    current: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: {"intra": 0, "cross": 0}))
    steps: list[dict[str, dict[str, int]]] = field(default_factory=list)

    def send(self, kind: str, group_ranks: list[int], nbytes_per_peer: int) -> None:
        """Record ``nbytes_per_peer`` sent from this rank to every other member of ``group_ranks``."""
        for peer in group_ranks:
            if peer != self.rank:
                where = "intra" if self.topology.same_node(self.rank, peer) else "cross"
                self.current[kind][where] += nbytes_per_peer

    def step(self) -> dict[str, dict[str, int]]:
        """Close the current step; returns its counts ``{kind: {intra, cross}}`` plus a ``total`` entry."""
        counts = {k: dict(v) for k, v in self.current.items()}
        counts["total"] = {w: sum(v[w] for v in self.current.values()) for w in ("intra", "cross")}
        self.steps.append(counts)
        self.current = defaultdict(lambda: {"intra": 0, "cross": 0})
        return counts
