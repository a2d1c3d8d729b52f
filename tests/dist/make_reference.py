"""Regenerate reference_losses.json (run after a deliberate change to the training run or the comms)."""

from __future__ import annotations

import json
from pathlib import Path

from feedlearn.dist.launch import launch
from feedlearn.dist.train import RunConfig, run_worker

CONFIG = RunConfig(strategies=["zero3", "zeropp"], steps=20, ranks_per_node=2, device="cpu")

if __name__ == "__main__":
    result = launch(run_worker, (CONFIG,), nproc=4, device="cpu")[0]
    path = Path(__file__).with_name("reference_losses.json")
    about = json.loads(path.read_text())["about"]
    path.write_text(json.dumps({"about": about, **{s: r["losses"] for s, r in result.items()}}, indent=1) + "\n")
