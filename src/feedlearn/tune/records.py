"""What every training loop writes to its ``output_dir``, written one way: ``log.jsonl`` lines, the
summary (``summary.json``, written last: its presence marks the run finished) and our own checkpoints.

Three loops use these — the ``Trainer`` path (``stage.train_once``), the round-based stages
(``sampling.run_rounds``) and PPO — so their logs, summaries and checkpoint folders look alike and
the CLI, recipes and tests read them the same way. (The ``Trainer`` writes its own checkpoints.)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from feedlearn.common.io import atomic_dir, atomic_write_text
from feedlearn.tune.config import TrainConfig

CHECKPOINT = "checkpoint-{}"  # a checkpoint folder's name, by optimizer step (transformers' too)


def append_log(out_dir: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one record (a step's numbers) to ``out_dir/log.jsonl``."""
    with (Path(out_dir) / "log.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def per_second(tokens: int, seconds: float) -> float:
    """Throughput; 0 when nothing was timed (a resumed run that had no step left)."""
    return tokens / seconds if seconds > 0 else 0.0


def build_summary(stage: str, config: TrainConfig, model: str | os.PathLike[str], *, steps: int, train_loss: Any,
                  tokens: int, seconds: float, resumed_from: Any, peak_memory_bytes: int,
                  eval: dict[str, float] | None = None, started: float | None = None, **extra: Any) -> dict[str, Any]:
    """The summary every stage reports: what it trained (steps, tokens, tokens/s, peak memory), its eval
    metrics and its config; ``extra`` holds what is particular to the stage (rounds, PPO's scores).

    ``seconds`` counts training time only (0 when a resumed run had nothing left to train: then 0 tokens/s);
    ``started`` (a ``time.perf_counter()`` value) gives ``total_seconds``, evaluation included.
    """
    summary = {"stage": stage, "model": str(model), "steps": steps, "resumed_from": resumed_from,
               "train_loss": train_loss, "tokens": tokens, "seconds": seconds,
               "tokens_per_second": per_second(tokens, seconds), "peak_memory_bytes": peak_memory_bytes,
               **extra, "eval": eval or {}}
    if started is not None:
        summary["total_seconds"] = time.perf_counter() - started
    summary["config"] = config.model_dump()
    return summary


def write_summary(out_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write summary.json atomically; it is written last, so its presence marks the run finished."""
    path = Path(out_dir) / "summary.json"
    atomic_write_text(path, json.dumps(summary, indent=1, default=str) + "\n")
    return path


def checkpoints(out: Path, marker: str) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every complete checkpoint in ``out``: a ``checkpoint-N`` folder holding ``marker``."""
    found = []
    for d in out.glob("checkpoint-*"):
        if (d / marker).exists() and d.name.split("-")[-1].isdigit():
            found.append((int(d.name.split("-")[-1]), d))
    return found


def last_checkpoint(out: Path, marker: str) -> Path | None:
    found = checkpoints(out, marker)
    return max(found)[1] if found else None


def save_checkpoint(out: Path, step: int, write: Callable[[Path], Any], keep: int, marker: str) -> Path:
    """Fill ``checkpoint-{step}`` through ``write(folder)`` atomically, then keep only the ``keep`` newest."""
    path = atomic_dir(out / CHECKPOINT.format(step), write)
    for _, old in sorted(checkpoints(out, marker))[:-keep]:
        shutil.rmtree(old)
    return path
