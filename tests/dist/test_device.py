"""Backend and device of a rank from the launcher's environment, with CUDA faked (``gpus=``): no GPU needed."""

from __future__ import annotations

import pytest
import torch

import feedlearn.dist.device as device_module
from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.device import Placement, placement
from feedlearn.dist.launch import launch
from feedlearn.dist.zeropp import _check_backend, _device_type_of
from tests.dist import workers

TORCHRUN_RANK_3 = {"RANK": "7", "LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "4", "WORLD_SIZE": "8"}


def test_a_gpu_per_local_rank_means_nccl_on_cuda_local_rank():
    where = placement(env=TORCHRUN_RANK_3, gpus=4)
    assert where == Placement("nccl", torch.device("cuda", 3))  # LOCAL_RANK, not RANK (7)
    assert where.device_type == "cuda"
    assert placement("cuda", env=TORCHRUN_RANK_3, gpus=8).device == torch.device("cuda", 3)


@pytest.mark.parametrize("gpus", [0, 2])
def test_no_or_too_few_gpus_mean_gloo_on_the_cpu(gpus):
    # 4 ranks on 2 GPUs: NCCL cannot put two ranks of one group on one GPU, so all stay on the CPU
    assert placement(env=TORCHRUN_RANK_3, gpus=gpus) == Placement("gloo", torch.device("cpu"))


def test_cpu_is_honoured_on_a_gpu_machine():
    assert placement("cpu", env=TORCHRUN_RANK_3, gpus=4) == Placement("gloo", torch.device("cpu"))


def test_the_launching_parent_asks_with_its_process_count():
    # before the ranks exist there is no LOCAL_WORLD_SIZE: launch(nproc=4) passes local_ranks=4
    assert placement(env={}, local_ranks=4, gpus=4).backend == "nccl"
    assert placement(env={}, local_ranks=4, gpus=3).backend == "gloo"
    assert placement(env={}, gpus=1) == Placement("nccl", torch.device("cuda", 0))  # a plain single process


def test_impossible_requests_are_one_line():
    with pytest.raises(FeedlearnError, match=r"^--device cuda: 4 ranks on this node need one GPU each, 2 visible$"):
        placement("cuda", env=TORCHRUN_RANK_3, gpus=2)
    with pytest.raises(FeedlearnError, match=r"^--device must be one of auto, cuda, cpu, got 'tpu'$"):
        placement("tpu", env={}, gpus=0)


def test_launch_refuses_cuda_without_gpus_before_starting(monkeypatch):
    monkeypatch.setattr(device_module, "visible_gpus", lambda: 0)
    with pytest.raises(FeedlearnError, match="--device cuda: 2 ranks on this node need one GPU each, 0 visible"):
        launch(workers.fail_on_rank_one, nproc=2, device="cuda")


def test_apply_zeropp_refuses_a_model_off_the_process_groups_device():
    _check_backend("nccl", "cuda")
    _check_backend("gloo", "cpu")
    _check_backend("cpu:gloo,cuda:nccl", "cuda")  # a mixed group serves both
    with pytest.raises(FeedlearnError, match="model is on cpu but the process group's backend is nccl, which needs cuda"):
        _check_backend("nccl", "cpu")
    with pytest.raises(FeedlearnError, match="model's parameters are on meta"):
        _device_type_of(torch.nn.Linear(2, 2, device="meta"))
    assert _device_type_of(torch.nn.Linear(2, 2)) == "cpu"
