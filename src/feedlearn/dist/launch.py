"""Start N local processes (torch's elastic launcher, what ``torchrun`` uses) or join an existing torchrun.

``launch(fn, args, nproc=4)`` runs ``fn(*args)`` on every rank inside an initialised process group
and returns ``{rank: result}``; each rank joins on the backend and device ``device.placement`` gives
it (NCCL on ``cuda:LOCAL_RANK`` with a GPU per rank, else gloo on the CPU). Under ``torchrun``
(``RANK`` already set) it just runs ``fn`` on this rank. A rank that dies makes the launcher stop the others and raise one ``FeedlearnError``
naming the rank and its error; a collective stuck longer than ``timeout_s`` fails on every rank
(the process group's timeout) instead of hanging.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.device import join_process_group, placement


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(fn: Callable[..., Any], args: tuple, device: str, timeout_s: float) -> Any:
    """Run on each rank: join the process group on this rank's device (``device.placement``), call ``fn``, leave."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)  # N processes share the machine's cores
    join_process_group(placement(device), timeout_s)
    result = fn(*args)  # on an error, exit without closing the group: the launcher records this rank's
    dist.destroy_process_group()  # error before its peers see the connection drop and fail too
    return result


# One machine's processes: more than this is a typo (a GPU node has 8-16 GPUs, a CPU test a few ranks).
MAX_LOCAL_PROCESSES = 256


def check_launch(nproc: int, timeout_s: float) -> None:
    """Refuse a process count or timeout that cannot work, before any process starts."""
    if not 1 <= nproc <= MAX_LOCAL_PROCESSES:
        raise FeedlearnError(f"--nproc must be between 1 and {MAX_LOCAL_PROCESSES}, got {nproc}")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise FeedlearnError(f"--timeout must be a positive number of seconds, got {timeout_s}")


@contextmanager
def _quiet_launcher() -> Iterator[None]:
    """Hide the elastic launcher's log of each failed rank's traceback (40-80 lines): ``launch``
    reports the failing rank in one line. ``feedlearn --debug`` (FEEDLEARN_DEBUG=1) keeps the log."""
    logger = logging.getLogger("torch.distributed.elastic")
    if os.environ.get("FEEDLEARN_DEBUG") == "1" or logger.level != logging.NOTSET:
        yield
        return
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(logging.NOTSET)


def launch(fn: Callable[..., Any], args: tuple = (), *, nproc: int = 4, device: str = "auto",
           timeout_s: float = 120.0) -> dict[int, Any]:
    """``{rank: fn(*args)}`` from ``nproc`` local processes (or this rank's only, under torchrun).

    ``device``: ``auto`` puts rank ``l`` on ``cuda:l`` over NCCL when there is a GPU per rank, else
    every rank on the CPU over gloo; ``cuda``/``cpu`` force it (``device.placement``)."""
    check_launch(nproc, timeout_s)
    if under_torchrun():
        return {int(os.environ["RANK"]): _entry(fn, args, device, timeout_s)}
    placement(device, local_ranks=nproc)  # a bad --device fails here, in one line, not in every rank
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=uuid.uuid4().hex,
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}", max_restarts=0,
                          monitor_interval=0.1, start_method="spawn")
    try:
        with _quiet_launcher():
            return elastic_launch(config, _entry)(fn, args, device, timeout_s)
    except ChildFailedError as exc:
        rank, message = _root_cause(exc.failures)
        raise FeedlearnError(f"rank {rank} failed: {message}") from None


# what a rank reports when a *peer* died: the rank that died first is the one to name
_ECHOES = ("Connection closed by peer", "remote worker crashing", "Connection reset by peer")


def _root_cause(failures: dict[int, Any]) -> tuple[int, str]:
    """The failing rank to report, and the first line of its error."""

    def text(failure: Any) -> str:
        message = failure.message if isinstance(failure.message, str) else failure.message.get("message", "")
        return str(message).strip().splitlines()[0] if message else f"exit code {failure.exitcode}"

    rank = min(failures, key=lambda r: (any(e in text(failures[r]) for e in _ECHOES), failures[r].timestamp, r))
    return rank, text(failures[rank])
