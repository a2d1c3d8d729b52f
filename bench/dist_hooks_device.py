"""ZeRO++'s hooks on a GPU in one process: the same numbers as on the CPU (no NCCL, no second GPU needed).

``feedlearn dist bench`` on one GPU is a world of one rank, where qwZ and qgZ fall back to the plain
collectives (nothing crosses a node). This runs each hook's own work — quantize, pack, dequantize,
the hierarchical sums, error feedback — on ``--device`` and on the CPU, with stand-in collectives
that move data as a 2 nodes x 2 ranks world would if every rank held the same buffer, and compares.

    python bench/dist_hooks_device.py [--device cuda] [--json out.json]     # exit 1 if they differ by > 0.1%
"""

from __future__ import annotations

import argparse
import json
import sys
from unittest import mock

import torch
import torch.distributed as dist

from feedlearn.dist import comms
from feedlearn.dist.accounting import ByteCounter
from feedlearn.dist.topology import Groups, Topology

TOPOLOGY = Topology(world_size=4, ranks_per_node=2)
SEGMENTS = [4096, 64, 2688, 1]  # parameter shards of one module (an odd one too): 6849 elements per rank


class Group:
    def size(self) -> int:
        return TOPOLOGY.world_size


def _gather(out: torch.Tensor, inp: torch.Tensor, group: object = None) -> None:
    out.view(TOPOLOGY.world_size, -1).copy_(inp.clone())  # every rank sent what this one did (inp views out)


def _scatter(out: torch.Tensor, inp: torch.Tensor, op: object = None, group: object = None) -> None:
    out.copy_(inp.view(TOPOLOGY.world_size, -1).sum(0))


def _all_to_all(out: torch.Tensor, inp: torch.Tensor, group: object = None) -> None:
    out.copy_(inp)


def run(hook_name: str, device: torch.device, steps: int = 2) -> torch.Tensor:
    """The hook's output after ``steps`` calls (the second uses cached layouts and error feedback), fp32."""
    counter, groups = ByteCounter(TOPOLOGY, 0), Groups(TOPOLOGY, 0, None, None)
    hook = {
        "PlainAllGather": lambda: comms.PlainAllGather(counter),
        "QuantizedAllGather": lambda: comms.QuantizedAllGather(counter, groups, 8, 2048, lambda: SEGMENTS),
        "PlainReduceScatter": lambda: comms.PlainReduceScatter(counter),
        "HierarchicalQuantizedReduceScatter": lambda: comms.HierarchicalQuantizedReduceScatter(
            counter, groups, 4, 256, min_chunk=1, error_feedback=True, segments=lambda: SEGMENTS),
    }[hook_name]()
    shard = sum(SEGMENTS)
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(TOPOLOGY.world_size * shard, generator=g) * 0.02).to(torch.bfloat16).to(device)
    output = hook.allocate((TOPOLOGY.world_size * shard,), dtype=torch.bfloat16, device=device)
    with mock.patch.object(comms, "_all_gather", _gather), mock.patch.object(comms, "_reduce_scatter", _scatter), \
            mock.patch.object(dist, "all_to_all_single", _all_to_all), \
            mock.patch.object(dist, "get_process_group_ranks", lambda group: list(range(TOPOLOGY.world_size))):
        for _ in range(steps):
            if isinstance(hook, comms.AllGather):
                output.copy_(data)
                hook(output, output[:shard], Group())
                result = output
            else:
                result = output[:shard]
                hook(result, data, Group(), dist.ReduceOp.AVG)
    assert result.device.type == device.type, (hook_name, result.device)
    return result.float().cpu()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    report = {"device": str(device), "torch": torch.__version__, "hooks": {}}
    for name in ("PlainAllGather", "QuantizedAllGather", "PlainReduceScatter", "HierarchicalQuantizedReduceScatter"):
        here, cpu = run(name, device), run(name, torch.device("cpu"))
        diff, rel = float((here - cpu).abs().max()), float((here - cpu).norm() / cpu.norm())
        # the same IEEE ops give the same bits, but a GPU may sum in another order, and an fp32 difference
        # can flip one int4 rounding (one quantization step of one element): allow 0.1% of the norm
        report["hooks"][name] = {"max_abs_diff": diff, "rel_l2_diff": rel, "max_abs": float(cpu.abs().max()),
                                 "ok": rel <= 1e-3}
        print(f"{name:36s} on {device}: max |{device.type} - cpu| = {diff:.3g}, relative L2 {rel:.3g} "
              f"(values up to {cpu.abs().max():.3g})")
    ok = all(h["ok"] for h in report["hooks"].values())
    report["ok"] = ok
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
    print(f"dist hooks on {device}: {'same as on the CPU' if ok else 'DIFFERENT from the CPU'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
