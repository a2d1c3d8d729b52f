"""Checkpoints of a model sharded by ``feedlearn.dist`` (``strategy``), with torch.distributed.checkpoint.

transformers' own checkpoint path expects a model it sharded itself, so a ``Trainer`` running a model
that ``tune.sharding.shard`` wrapped gets ``ShardedCheckpoints`` mixed in (``with_sharded_checkpoints``).
A checkpoint ``output_dir/checkpoint-N`` holds:

* ``sharded/``: the model and optimizer state as DCP wrote them — every rank writes its own shards
  (``get_state_dict``: DTensor shards, no full copy anywhere; under LoRA only the adapters have
  optimizer state);
* ``scheduler.pt``, ``trainer_state.json`` (step, log history) and the scaler, from rank 0;
* ``rng_state_R.pth``: each rank's RNG states (transformers' own per-process files).

Written into ``.tmp-checkpoint-N`` first; once every rank has finished (a barrier), rank 0 alone
renames it to ``checkpoint-N`` and drops the oldest beyond ``save_total_limit`` — a run killed
mid-save leaves no ``checkpoint-N`` that resume would pick. Resume is transformers' own
(``resume_from_checkpoint``: data skipped to the step, RNG restored), with the loads below in DCP.
A checkpoint resumes only on as many ranks as wrote it (``world.json``; a one-line error otherwise):
DCP could reshard the weights, but each rank's slice of the data and its RNG state are its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError

SHARDED = "sharded"  # the DCP folder inside a checkpoint
WORLD = "world.json"  # {"world_size": W} of the run that wrote it
TMP_PREFIX = ".tmp-"  # not matched by transformers' checkpoint-N pattern, nor by run_state.OUTPUTS


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()


def _main() -> bool:
    import torch.distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


def _optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer under accelerate's ``AcceleratedOptimizer`` wrapper."""
    return getattr(optimizer, "optimizer", optimizer)


def _world() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_initialized() else 1


def check_world(checkpoint: Path) -> None:
    """Refuse to resume ``checkpoint`` on another number of ranks than wrote it."""
    try:
        saved = json.loads((checkpoint / WORLD).read_text())["world_size"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FeedlearnError(f"{checkpoint / WORLD}: not a sharded checkpoint's world size ({type(exc).__name__})") from None
    if saved != _world():
        raise FeedlearnError(f"{checkpoint}: written by {saved} ranks, resumed on {_world()}; rerun with "
                             f"--nproc-per-node giving {saved} ranks, or use a new output_dir")


def rotate(out: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` ``checkpoint-N`` folders of ``out`` (by N)."""
    found = sorted((int(m.group(1)), p) for p in out.glob("checkpoint-*") if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)))
    for _, path in found[:-keep] if keep > 0 else []:
        shutil.rmtree(path, ignore_errors=True)


class ShardedCheckpoints:
    """Trainer mixin: save and load checkpoints with DCP (module docstring). Mixed in before the Trainer class."""

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        out = Path(self.args.output_dir)
        name = f"checkpoint-{self.state.global_step}"
        final, tmp = out / name, out / f"{TMP_PREFIX}{name}"
        self.store_flos()  # a collective under torch.distributed: every rank calls it
        if _main():
            shutil.rmtree(tmp, ignore_errors=True)  # left by a run killed mid-save
            tmp.mkdir(parents=True)
        _barrier()
        # (model, optimizer) state: each rank's DTensor shards, written by that rank
        model_state, optim_state = get_state_dict(self.model, _optimizer(self.optimizer))
        dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=str(tmp / SHARDED))
        self._save_rng_state(str(tmp))  # rng_state_R.pth: one file per rank
        if _main():
            torch.save(self.lr_scheduler.state_dict(), tmp / "scheduler.pt")
            self._save_scaler(str(tmp))
            self.state.save_to_json(str(tmp / "trainer_state.json"))
            (tmp / WORLD).write_text(json.dumps({"world_size": _world()}) + "\n")
        _barrier()  # every rank's shards are on disk
        if _main():
            if final.exists():  # the same step saved by an earlier try: replaced as a whole
                shutil.rmtree(final)
            os.replace(tmp, final)
            rotate(out, self.args.save_total_limit or 0)
        _barrier()

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        """The model's weights (each rank its own shards); called before the optimizer exists."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

        check_world(Path(resume_from_checkpoint))
        model = self.model if model is None else model
        state = get_model_state_dict(model)
        dcp.load({"model": state}, checkpoint_id=str(Path(resume_from_checkpoint) / SHARDED))
        set_model_state_dict(model, state)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """The optimizer's shards (DCP) and the schedule's position (rank 0's ``scheduler.pt``)."""
        if checkpoint is None:
            return
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

        optimizer = _optimizer(self.optimizer)
        state = get_optimizer_state_dict(self.model, optimizer)  # (its state initialised, for DCP to fill)
        dcp.load({"optimizer": state}, checkpoint_id=str(Path(checkpoint) / SHARDED))
        set_optimizer_state_dict(self.model, optimizer, state)
        self.lr_scheduler.load_state_dict(torch.load(Path(checkpoint) / "scheduler.pt", weights_only=True))


def with_sharded_checkpoints(trainer_class: type) -> type:
    """``trainer_class`` (``Trainer`` or a TRL trainer) with its checkpoints in DCP."""
    return type(f"Sharded{trainer_class.__name__}", (ShardedCheckpoints, trainer_class), {})
