"""A DeepSpeed JSON config with ZeRO++ switched on, for users who already train with DeepSpeed.

feedlearn's own ZeRO++ runs on FSDP2 (``zeropp.py``); this module only writes the equivalent DeepSpeed
config, so it neither imports nor needs DeepSpeed. The pitfalls below were checked against DeepSpeed's
ZeRO++ tutorial (https://www.deepspeed.ai/tutorials/zeropp/), its config reference
(https://www.deepspeed.ai/docs/config-json/), its GitHub issues (github.com/deepspeedai/DeepSpeed,
numbers below) and its source as stored in public mirrors (version not pinned: re-check the release you
run). "Our reading" marks conclusions drawn from the source, not from a report or a run.

1. ZeRO++ is stage 3 only: the tutorial says it "extends ZeRO Stage 3". Every config here has stage 3.
2. hpZ: ``zero_hpz_partition_size`` is the number of ranks in the secondary weight partition; the
   default 1 means no hpZ and the tutorial calls "number of ranks (gpus) per node" ideal.
   ``deepspeed/utils/groups.py::_create_zero_param_parallel_group`` requires the world size to be
   divisible by it and groups consecutive ranks, so a group is one node only if ranks are numbered node
   by node and the size equals the GPUs per node. One node gains nothing (DeepSpeedExamples PR #717
   skips hpZ there). Reported convergence trouble: #4851 (closed), #5059 (loss 0 from step 3, closed),
   #7164 (abnormally large loss, open), #7606 (high loss on the first step after a checkpoint load,
   reported fixed by PR #7707). #4901 reports "ZeRO parameter intra parallel group is already
   initialized"; the group is a module global asserted unset, so (our reading) a second hpZ engine in
   the same process trips it.
3. qgZ needs ``reduce_scatter: true``. Our reading of ``stage3.py::__reduce_and_partition_ipg_grads``:
   with ``contiguous_gradients`` on, a bucket within ``reduce_bucket_size`` and ``reduce_scatter``
   false, gradients take the all-reduce path, which never quantizes, so qgZ silently does nothing. The
   tutorial's example config sets ``reduce_scatter: false``; do not copy that line.
4. qgZ only runs across nodes: ``__avg_scatter_grads`` calls ``all_to_all_quant_reduce`` only when
   world size // GPUs per node > 1, else a plain reduce-scatter. 1-D tensors and tensors whose size is
   not a multiple of 2 x world size fall back to reduce-scatter with a warning (PR #5056; issue #5054,
   odd node counts).
5. qgZ gradient scale -- uncertain. Issue #4886 ("DeepSpeed ZeRO++ features aren't working", open)
   reports 2-node runs diverging: fp16 with all three, loss to inf and the loss scale down to 1; bf16
   with hpZ + qgZ, loss ~2409 at the start then inf. The issue text we could read names no cause (it
   does not say the gradients are scaled by the ranks per node). Our reading of
   ``all_to_all_quant_reduce``: the intra-node ``dequant_reduce`` kernel sums the ranks' gradients and
   the Python side divides only by the number of nodes, which would leave gradients ranks-per-node
   times too large -- consistent with #4886, not confirmed by a run. Compare grad norms with qgz=False.
6. qwZ: #4852 (open) reports ``zero_quantized_weights: true`` crashing with a bf16 config; #4886 saw
   the forward pass fail with bf16 and run with fp16 on one node. The quantizer needs weight counts
   that are multiples of 8 (#3864, #4309). If you hit #4852, pass ``qwz=False`` or ``bf16=False``.
7. Offload: hpZ with CPU offload reported training at a constant loss / zero grad norm (#6926, open;
   ms-swift #3697), hpZ + qgZ with offload a high eval loss (#5057). We found no report on qwZ +
   offload alone; treat any ZeRO++ + offload combination as untested.
8. fp16 vs bf16: fp16 uses dynamic loss scaling (``loss_scale: 0``), so overflowing gradients show up
   as skipped steps and a falling scale (#4886 item 4); the config docs say bf16 needs no loss scaling.

``train_batch_size`` is left out: the config docs say DeepSpeed infers it from the micro batch, the
accumulation steps and the number of GPUs, so one file serves any world size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text

GRADIENT_CLIPPING = 1.0

# DeepSpeed's own stage-3 defaults (DeepSpeedZeroConfig), written out so the file says what runs.
STAGE3_DEFAULTS: dict[str, Any] = {
    "reduce_bucket_size": 500_000_000,
    "stage3_prefetch_bucket_size": 50_000_000,
    "stage3_param_persistence_threshold": 100_000,
    "stage3_max_live_parameters": 1_000_000_000,
    "stage3_max_reuse_distance": 1_000_000_000,
    "sub_group_size": 1_000_000_000,
}

# Dynamic loss scaling: start at 2^16, halve on overflow, double after 1000 clean steps.
FP16_SECTION: dict[str, Any] = {
    "enabled": True,
    "loss_scale": 0,
    "initial_scale_power": 16,
    "loss_scale_window": 1000,
    "hysteresis": 2,
    "min_loss_scale": 1,
}


def _check_int(name: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise FeedlearnError(f"deepspeed_config: {name} must be an integer >= 1, got {value!r}")
    return value


def _check_bool(name: str, value: object, *, optional: bool = False) -> None:
    if not (type(value) is bool or (optional and value is None)):
        kind = "True, False or None" if optional else "True or False"
        raise FeedlearnError(f"deepspeed_config: {name} must be {kind}, got {value!r}")


def deepspeed_config(
    *,
    zeropp: bool = True,
    ranks_per_node: int = 8,
    micro_batch_size: int = 1,
    grad_accum: int = 1,
    bf16: bool = True,
    qwz: bool | None = None,
    hpz: bool | None = None,
    qgz: bool | None = None,
    offload: bool = False,
) -> dict[str, Any]:
    """Build a ZeRO stage-3 DeepSpeed config; ``zeropp`` turns on qwZ, hpZ and qgZ together.

    ``qwz`` / ``hpz`` / ``qgz`` override ``zeropp`` one by one (None: follow it). hpZ's partition is
    ``ranks_per_node`` ranks, so it must equal the GPUs per node and divide the world size (pitfall 2);
    with ``ranks_per_node == 1`` hpZ is off unless asked for explicitly, which is an error.
    ``offload`` moves parameters and optimizer state to pinned CPU memory (pitfall 7).
    """
    _check_int("ranks_per_node", ranks_per_node)
    _check_int("micro_batch_size", micro_batch_size)
    _check_int("grad_accum", grad_accum)
    for name, value in (("zeropp", zeropp), ("bf16", bf16), ("offload", offload)):
        _check_bool(name, value)
    for name, value in (("qwz", qwz), ("hpz", hpz), ("qgz", qgz)):
        _check_bool(name, value, optional=True)
    if hpz and ranks_per_node == 1:
        raise FeedlearnError("deepspeed_config: hpz needs ranks_per_node > 1 (a partition of 1 rank is hpZ off)")

    use_qwz = zeropp if qwz is None else qwz
    use_hpz = (zeropp if hpz is None else hpz) and ranks_per_node > 1
    use_qgz = zeropp if qgz is None else qgz

    zero: dict[str, Any] = {
        "stage": 3,
        # Must stay true: with it false, stage 3 all-reduces small buckets and skips qgZ (pitfall 3).
        "reduce_scatter": True,
        "overlap_comm": True,
        "contiguous_gradients": True,
        **STAGE3_DEFAULTS,
        # So save_16bit_model() writes whole weights rather than this rank's shard.
        "stage3_gather_16bit_weights_on_model_save": True,
        "zero_quantized_weights": use_qwz,
        "zero_hpz_partition_size": ranks_per_node if use_hpz else 1,
        "zero_quantized_gradients": use_qgz,
    }
    if offload:
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}

    return {
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "gradient_accumulation_steps": grad_accum,
        "gradient_clipping": GRADIENT_CLIPPING,
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": False} if bf16 else dict(FP16_SECTION),
        "zero_optimization": zero,
    }


def write_deepspeed_config(path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Write ``deepspeed_config(**kwargs)`` to ``path`` as indented JSON, atomically; returns the path.

    Validation happens before anything touches the disk, so a bad argument leaves ``path`` as it was.
    """
    text = json.dumps(deepspeed_config(**kwargs), indent=2) + "\n"
    atomic_write_text(path, text)
    return Path(path)
