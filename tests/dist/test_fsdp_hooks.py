"""The torch version check for FSDP2's hook API, and the pin in pyproject.toml that it must agree with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.fsdp_hooks import MIN_TORCH, require_hook_api, torch_version

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


@pytest.mark.parametrize(("text", "version"), [("2.13.0+cpu", (2, 13)), ("2.9.0", (2, 9)), ("2.10.0a0+git1234", (2, 10)),
                                                ("3.0.1+cu128", (3, 0))])
def test_torch_version_reads_major_and_minor(text, version):
    assert torch_version(text) == version


def test_the_installed_torch_passes():
    require_hook_api()  # the CI's torch (2.13): set_custom_all_gather / set_custom_reduce_scatter exist
    assert torch_version() >= MIN_TORCH


@pytest.mark.parametrize("old", ["2.8.0", "2.4.1+cu121", "1.13.1"])
def test_an_older_torch_is_one_line(old):
    with pytest.raises(FeedlearnError, match=rf"^feedlearn.dist needs torch>=2\.9 \(FSDP2's custom all-gather/"
                                             rf"reduce-scatter hooks\), found torch {re.escape(old)}$"):
        require_hook_api(old)


def test_a_torch_without_the_hooks_is_one_line(monkeypatch):
    from torch.distributed.fsdp import FSDPModule

    monkeypatch.delattr(FSDPModule, "set_custom_reduce_scatter")
    with pytest.raises(FeedlearnError, match="has no FSDPModule.set_custom_all_gather/set_custom_reduce_scatter"):
        require_hook_api(torch.__version__)


def test_pyproject_declares_the_lowest_torch_with_the_hook_api():
    pins = re.findall(r'^\s*"torch>=([0-9.]+)"', PYPROJECT.read_text(), re.MULTILINE)  # tomllib: Python 3.11+
    assert pins == [f"{MIN_TORCH[0]}.{MIN_TORCH[1]}"]
