"""Functions run on every rank by the dist tests (importable by spawned processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import torch
import torch.distributed as dist

from feedlearn.dist.train import RunConfig, batches, run_worker, sharded_model, tiny_llama
from feedlearn.dist.zeropp import STRATEGIES


def _local_grads(model) -> torch.Tensor:
    """This rank's shards of all gradients, flattened, in fp32."""
    return torch.cat([p.grad.to_local().reshape(-1).float() for p in model.parameters()])


def _gathered(model) -> torch.Tensor:
    """All parameters as the forward pass sees them (all-gathered through the model's hooks), flat fp32."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.unshard()
    return torch.cat([p.detach().reshape(-1).float() for p in model.parameters()])


def _allsum(*values: float) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def first_backward(strategy: str, config: RunConfig):
    model, _ = sharded_model(strategy, config)
    ids = next(batches(config, dist.get_rank()))
    model(input_ids=ids, labels=ids).loss.backward()
    return model, ids


def checks(config: RunConfig, register: dict[str, dict[str, bool]] | None = None) -> dict:
    """Everything the ZeRO++ tests assert, from one process group (spawning is the slow part).

    ``register``: strategies to add to ``STRATEGIES`` in this rank first (a spawned rank imports
    the registry afresh, without what the test added in the parent).
    """
    STRATEGIES.update(register or {})
    out: dict = {"train": run_worker(config)}

    # FSDP2 with its own comms: our plain hooks must give the very same losses
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    model = tiny_llama(config)
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    data, losses = batches(config, dist.get_rank()), []
    for _ in range(config.steps):
        ids = next(data)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(float(mean) / dist.get_world_size())
    out["fsdp2_default_losses"] = losses

    # gradients of one backward: hpZ exactly ZeRO-3's, qgZ close to them and at the same scale
    exact_model, ids = first_backward("zero3", config)
    exact = _local_grads(exact_model)
    hpz = _local_grads(first_backward("hpz", config)[0])
    out["hpz_grads_equal"] = _allsum(float(not torch.equal(exact, hpz)))[0] == 0
    qgz = _local_grads(first_backward("qgz", config)[0])
    dot, exact_sq, q_sq = _allsum(float(exact @ qgz), float(exact @ exact), float(qgz @ qgz))
    out["qgz_cosine"] = dot / (exact_sq * q_sq) ** 0.5
    out["qgz_scale"] = dot / exact_sq  # the component of the qgZ gradient along the exact one
    out["qgz_norm_ratio"] = (q_sq / exact_sq) ** 0.5

    # error feedback: gradients of the same batch accumulated over 4 backward passes; with EF the
    # rounding errors cancel instead of adding up, so the sum is closer to 4x the exact gradient
    errors = {}
    for feedback in (False, True):
        ef_config = config.model_copy(update={"error_feedback": feedback})
        model, _ = sharded_model("qgz", ef_config)
        for _ in range(4):
            model(input_ids=ids, labels=ids).loss.backward()
        diff, ref = _allsum(float((_local_grads(model) - 4 * exact).norm() ** 2), float((4 * exact).norm() ** 2))
        errors[feedback] = (diff / ref) ** 0.5
    out["ef_rel_error"], out["no_ef_rel_error"] = errors[True], errors[False]

    # qwZ forward: the weights as gathered (int8) vs exact, and the logits computed with them
    with torch.no_grad():
        exact_logits = exact_model(input_ids=ids).logits
        qwz_model = sharded_model("qwz", config)[0]
        qwz_logits = qwz_model(input_ids=ids).logits
        num, den = _allsum(float((qwz_logits - exact_logits).norm() ** 2), float(exact_logits.norm() ** 2))
        out["qwz_logits_rel_error"] = (num / den) ** 0.5
        exact_weights, qwz_weights = _gathered(sharded_model("zero3", config)[0]), _gathered(qwz_model)
        out["qwz_weights_rel_error"] = float((qwz_weights - exact_weights).norm() / exact_weights.norm())

    # bytes in bf16, the setting of ZeRO++'s claim
    bf16 = config.model_copy(update={"dtype": "bfloat16", "steps": 2, "strategies": ["zero3", "zeropp"]})
    out["bf16"] = run_worker(bf16)
    return out


def fail_on_rank_one() -> None:
    if dist.get_rank() == 1:
        raise RuntimeError("rank one gives up")
    dist.barrier()


def hang_on_rank_one() -> None:
    """Rank 1 skips a collective the others wait in: they must time out, not hang."""
    if dist.get_rank() != 1:
        dist.all_reduce(torch.ones(1))
    else:
        time.sleep(30)


def stop_rank_one() -> None:
    """Rank 1 is stopped (SIGSTOP, as by Ctrl-Z or a debugger) while rank 0 waits in a collective.

    A stopped process ignores the launcher's SIGTERM until it is continued; a detached ``kill -CONT``
    after 5 s stands in for the launcher's SIGKILL 30 s later, so the test stays short.
    """
    if dist.get_rank() == 1:
        subprocess.Popen(["sh", "-c", f"sleep 5; kill -CONT {os.getpid()}"], start_new_session=True)
        os.kill(os.getpid(), signal.SIGSTOP)
    dist.all_reduce(torch.ones(1))
