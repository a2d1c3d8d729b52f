"""Where a rank runs: the one decision of backend (NCCL or gloo) and device, from the launcher's environment.

torchrun (and ``launch``) start one process per rank and tell each its ``LOCAL_RANK`` among the
``LOCAL_WORLD_SIZE`` ranks of its node. With at least one GPU per local rank, rank ``l`` owns
``cuda:l`` and the ranks talk NCCL; otherwise every rank runs on the CPU over gloo (a laptop, CI,
or fewer GPUs than ranks: NCCL cannot share one GPU between two ranks of a group). The launcher,
the benchmark's training loop and ``tune``'s sharded stages all ask ``placement``, so the process
group, the model, FSDP2's device mesh and the ZeRO++ hooks always agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

import torch

from feedlearn.common.errors import FeedlearnError

Want = Literal["auto", "cuda", "cpu"]
WANTS: tuple[str, ...] = get_args(Want)


@dataclass(frozen=True)
class Placement:
    """A rank's process-group backend and the device its model, batches and communication buffers live on."""

    backend: str  # "nccl" | "gloo"
    device: torch.device  # cuda:LOCAL_RANK | cpu

    @property
    def device_type(self) -> str:
        """What FSDP2's device mesh (``init_device_mesh``) is given."""
        return self.device.type


def visible_gpus() -> int:
    """GPUs this process may use (``CUDA_VISIBLE_DEVICES`` applies); 0 without CUDA."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def placement(want: str = "auto", *, env: Mapping[str, str] | None = None, local_ranks: int | None = None,
              gpus: int | None = None) -> Placement:
    """This rank's backend and device. ``want``: ``auto`` (CUDA when every local rank gets a GPU), ``cuda``
    (fail in one line if it cannot) or ``cpu``. ``local_ranks`` overrides ``LOCAL_WORLD_SIZE`` (the
    parent process of ``launch`` asks before its ranks exist); ``env`` and ``gpus`` are injectable for tests.
    """
    env = os.environ if env is None else env
    if want not in WANTS:
        raise FeedlearnError(f"--device must be one of {', '.join(WANTS)}, got {want!r}")
    local_ranks = local_ranks or int(env.get("LOCAL_WORLD_SIZE", "1"))
    local_rank = int(env.get("LOCAL_RANK", "0"))
    gpus = visible_gpus() if gpus is None else gpus
    enough = gpus >= local_ranks
    if want == "cuda" and not enough:
        raise FeedlearnError(f"--device cuda: {local_ranks} ranks on this node need one GPU each, {gpus} visible")
    if want == "cpu" or not enough:
        return Placement("gloo", torch.device("cpu"))
    assert 0 <= local_rank < local_ranks, (local_rank, local_ranks)  # the launcher numbers local ranks 0..L-1
    return Placement("nccl", torch.device("cuda", local_rank))


def join_process_group(where: Placement, timeout_s: float | None = None) -> None:
    """Bind this process to its GPU (before NCCL starts, so each rank's communicator uses its own) and join."""
    import torch.distributed as dist

    if where.device.type == "cuda":
        torch.cuda.set_device(where.device)
    dist.init_process_group(where.backend, **({"timeout": timedelta(seconds=timeout_s)} if timeout_s else {}))
