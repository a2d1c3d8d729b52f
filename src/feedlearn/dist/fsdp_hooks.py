"""The parts of FSDP2 that ZeRO++ needs and torch does not (yet) make public — in this one module.

Public (``torch.distributed.fsdp``): ``fully_shard``, ``FSDPModule`` with ``set_custom_all_gather`` /
``set_custom_reduce_scatter``, ``MixedPrecisionPolicy``. Private, as of torch 2.13:

* the interfaces a custom collective implements, ``AllGather`` and ``ReduceScatter``
  (``torch.distributed.fsdp._fully_shard._fsdp_api``; FSDP2 only calls ``allocate`` and ``__call__``,
  so if the module moves, our hooks subclass ``object`` and still work);
* the sizes of the parameter shards in a module's flat communication buffer
  (``FSDPParamGroup.fsdp_params[i].padded_sharded_param_size``), which keep quantization blocks
  inside one parameter (``quant.BlockLayout``).

The hook API arrived in torch 2.9.0 (pytorch/pytorch#155189: 2.8.0 has neither ``set_custom_*``
nor ``_fsdp_api.AllGather``); verified with the sources of 2.9.0 and the installed 2.13.0: the same
``__call__(output_tensor, input_tensor, group[, op], async_op)`` contract and the same private
attributes. Hence ``torch>=2.9`` in pyproject.toml, and ``require_hook_api`` turns an older or
changed torch into one line instead of an ImportError deep inside ``apply_zeropp``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError

MIN_TORCH = (2, 9)  # the first release with FSDPModule.set_custom_all_gather / set_custom_reduce_scatter
VERIFIED = "2.9.0 and 2.13.0"


def torch_version(version: str | None = None) -> tuple[int, int]:
    """``(major, minor)`` of ``version`` (default: the installed torch), e.g. ``"2.13.0+cpu"`` -> ``(2, 13)``."""
    text = torch.__version__ if version is None else version
    parts = text.split("+")[0].split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        raise FeedlearnError(f"cannot read the torch version {text!r}") from None


def require_hook_api(version: str | None = None) -> None:
    """One-line error unless torch has FSDP2's custom-collective hooks (``version``: for tests)."""
    found = torch_version(version)
    if found < MIN_TORCH:
        raise FeedlearnError(f"feedlearn.dist needs torch>={MIN_TORCH[0]}.{MIN_TORCH[1]} (FSDP2's custom "
                             f"all-gather/reduce-scatter hooks), found torch {version or torch.__version__}")
    from torch.distributed.fsdp import FSDPModule

    if not (hasattr(FSDPModule, "set_custom_all_gather") and hasattr(FSDPModule, "set_custom_reduce_scatter")):
        raise FeedlearnError(f"torch {version or torch.__version__} has no FSDPModule.set_custom_all_gather/"
                             f"set_custom_reduce_scatter (feedlearn.dist is verified with torch {VERIFIED})")


def _hook_bases() -> tuple[type, type]:
    try:
        from torch.distributed.fsdp._fully_shard._fsdp_api import AllGather, ReduceScatter
    except ImportError:  # an older torch (see require_hook_api) or a moved private module
        return object, object
    return AllGather, ReduceScatter


AllGather, ReduceScatter = _hook_bases()


def segments_of(module: Any, trainable_only: bool = False) -> Callable[[], list[int]]:
    """Sizes of the parameter shards in ``module``'s flat all-gather / reduce-scatter buffer, in order.

    ``trainable_only``: the reduce-scatter's buffer, which holds only parameters that get gradients —
    under LoRA the adapters, not the frozen base sharing their FSDP unit. The hooks call it when they
    first run and check the sum against the buffer, falling back to uniform blocks if it does not match
    (e.g. a trainable parameter that got no gradient). The private attributes are checked here, when
    the hooks are installed.
    """

    def segments() -> list[int]:
        group = module._get_fsdp_state()._fsdp_param_group  # None: the module manages no parameter itself
        if group is None:
            return []
        return [p.padded_sharded_param_size.numel() for p in group.fsdp_params
                if p.sharded_param.requires_grad or not trainable_only]

    try:
        segments()
    except AttributeError:
        raise FeedlearnError(f"torch {torch.__version__}: FSDP2's parameter groups changed (feedlearn.dist reads "
                             f"their shard sizes; verified with torch {VERIFIED})") from None
    return segments
