"""Stage configs: one pydantic model per stage, loadable from YAML, overridable from the CLI.

``TrainConfig`` holds what every training stage shares (model, data, optimisation, LoRA,
checkpoints); a stage's own config subclasses it. ``load_config(cls, yaml_path, overrides)`` reads
a YAML mapping (unknown keys are errors naming the file and key), then applies ``key=value``
overrides (values parsed as YAML scalars: ``lr=3e-4``, ``lora=true``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from feedlearn.common.errors import FeedlearnError


class TrainConfig(BaseModel):
    """Options every training stage shares (each with a default and help text)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = Field(..., description="Hub id or local directory of the model to start from.")
    data: str = Field(..., description="LMFlow dataset (file or folder) to train on.")
    output_dir: str = Field(..., description="Where checkpoints, logs, the final model and summary.json go.")
    eval_data: str | None = Field(None, description="Held-out LMFlow dataset evaluated after training.")
    template: str | None = Field(None, description="Chat template name; default: the tokenizer's own.")
    max_steps: int = Field(100, gt=0, description="Optimizer steps.")
    batch_size: int = Field(8, gt=0, description="Sequences per device per step.")
    grad_accum: int = Field(1, gt=0, description="Gradient accumulation steps.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (linear warm-up, then cosine).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Fraction of steps for warm-up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_length: int = Field(512, gt=8, description="Longest sequence (tokens); longer ones are truncated.")
    seed: int = Field(0, description="Seed for initialisation, data order and dropout.")
    save_steps: int = Field(50, gt=0, description="Checkpoint every N steps (resume continues from the last).")
    save_total_limit: int = Field(2, gt=0, description="Checkpoints kept.")
    logging_steps: int = Field(10, gt=0, description="Log loss every N steps (log.jsonl).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations to save memory.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("float32", description="Model weights' dtype.")
    lora: bool = Field(False, description="Train LoRA adapters instead of all weights.")
    lora_r: int = Field(8, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(16, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on LoRA inputs.")
    lora_target_modules: list[str] | str = Field("all-linear", description="Modules given adapters.")
    qlora: bool = Field(False, description="Load the base model in 4-bit (bitsandbytes, CUDA only) under LoRA.")
    merge_lora: bool = Field(True, description="Also save the adapters merged into the base weights.")
    lisa_layers: int = Field(0, ge=0, description="LISA: train only N randomly chosen layers at a time (0: off).")
    lisa_interval: int = Field(20, gt=0, description="LISA: steps between re-drawing the trained layers.")
    strategy: Literal["none", "zero3", "qwz", "hpz", "qgz", "zeropp"] = Field(
        "none", description="Sharded data parallel under torchrun (feedlearn.dist): zero3, zeropp or one technique.")
    ranks_per_node: int | None = Field(None, gt=0, description="strategy: ranks per node (default LOCAL_WORLD_SIZE).")


C = TypeVar("C", bound=BaseModel)


def _error(source: str, exc: ValidationError) -> FeedlearnError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = "unknown option" if err["type"] == "extra_forbidden" else err["msg"]
    return FeedlearnError(f"{source}: {key}: {msg}")


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["lr=3e-4", "lora=true"]`` → ``{"lr": 0.0003, "lora": True}`` (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FeedlearnError(f"override {item!r}: expected key=value")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value) if value.strip() else None
    return out


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None) -> C:
    """Build ``cls`` from a YAML file (optional) and overrides; errors name the file and key."""
    values: dict[str, Any] = {}
    source = "options"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FeedlearnError(f"{path}: no such config file") from None
        except yaml.YAMLError as exc:
            raise FeedlearnError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(loaded, dict):
            raise FeedlearnError(f"{path}: expected a mapping of options")
        values.update(loaded)
    extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides or [])
    values.update(extra)
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        raise _error(source, exc) from None
