"""Nodes x ranks-per-node: who shares a node with whom, and the process groups that follow from it.

Ranks are numbered node by node (torchrun's order): rank ``r`` lives on node ``r // L`` at local
index ``r % L`` (L = ranks per node). ZeRO++ needs two kinds of subgroups: the ranks of one node
(hpZ's secondary partition, qgZ's first all-to-all) and the ranks with the same local index on
every node (qgZ's cross-node all-to-all). ``ranks_per_node`` can be overridden so that 4 CPU
processes act as 2 nodes x 2 GPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from feedlearn.common.errors import FeedlearnError


@dataclass(frozen=True)
class Topology:
    world_size: int
    ranks_per_node: int

    def __post_init__(self) -> None:
        if self.world_size < 1 or self.ranks_per_node < 1:
            raise FeedlearnError(f"world size and ranks per node must be >= 1, got {self.world_size}, "
                                 f"{self.ranks_per_node}")
        if self.world_size % self.ranks_per_node:
            raise FeedlearnError(f"world size {self.world_size} is not a multiple of ranks per node "
                                 f"{self.ranks_per_node}")

    @classmethod
    def from_env(cls, ranks_per_node: int | None = None) -> Topology:
        """From torchrun's ``WORLD_SIZE`` and ``LOCAL_WORLD_SIZE`` (``ranks_per_node`` overrides the latter)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(world, ranks_per_node or int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))

    @property
    def nodes(self) -> int:
        return self.world_size // self.ranks_per_node

    def node_of(self, rank: int) -> int:
        return rank // self.ranks_per_node

    def local_of(self, rank: int) -> int:
        return rank % self.ranks_per_node

    def same_node(self, a: int, b: int) -> bool:
        return self.node_of(a) == self.node_of(b)

    def node_ranks(self, node: int) -> list[int]:
        """The ranks of ``node``, in local-index order."""
        return list(range(node * self.ranks_per_node, (node + 1) * self.ranks_per_node))

    def peer_ranks(self, local: int) -> list[int]:
        """The ranks with local index ``local`` on every node, in node order."""
        return [n * self.ranks_per_node + local for n in range(self.nodes)]


@dataclass
class Groups:
    """This rank's process groups: its node's ranks (``intra``) and its same-index peers (``cross``)."""

    topology: Topology
    rank: int
    intra: object
    cross: object

    @classmethod
    def create(cls, topology: Topology) -> Groups:
        """Every rank must call this, in the same order (torch creates subgroups collectively)."""
        import torch.distributed as dist

        rank = dist.get_rank()
        if dist.get_world_size() != topology.world_size:
            raise FeedlearnError(f"topology says {topology.world_size} ranks, the process group has "
                                 f"{dist.get_world_size()}")
        intra, _ = dist.new_subgroups_by_enumeration([topology.node_ranks(n) for n in range(topology.nodes)])
        cross, _ = dist.new_subgroups_by_enumeration([topology.peer_ranks(i) for i in range(topology.ranks_per_node)])
        return cls(topology, rank, intra, cross)
