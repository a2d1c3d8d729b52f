"""Every stage's summary.json (tokens/s, peak memory, eval) and loss curve, from a recipe's output_dir, as one JSON.

The loss curve is ``[step, loss]`` of each ``log.jsonl`` record with a loss (a round-based stage's
rounds in order). bench/gpu_check.sh collects them: a device call returns only a few files.
    python bench/gpu_check_summaries.py RUN_DIR > summaries.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def curve(stage_dir: Path) -> list[list[float]]:
    points = []
    for log in sorted(stage_dir.rglob("log.jsonl")):
        for line in log.read_text().splitlines():
            record = json.loads(line)
            loss = record.get("loss", record.get("policy_loss"))
            if isinstance(loss, (int, float)):
                points.append([record.get("step"), round(float(loss), 5)])
    return points


def main(run_dir: str) -> None:
    out = {}
    for path in sorted(Path(run_dir).glob("*/summary.json")):
        out[path.parent.name] = {**json.loads(path.read_text()), "loss_curve": curve(path.parent)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
