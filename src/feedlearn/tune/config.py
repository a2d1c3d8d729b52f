"""Stage configs: one pydantic model per stage, loadable from YAML, overridable from the CLI.

``TrainConfig`` holds what every training stage shares (model, data, optimisation, LoRA,
checkpoints); a stage's own config subclasses it. ``load_config(cls, yaml_path, overrides)`` reads
a YAML mapping (unknown keys are errors naming the file and key), then applies ``key=value``
overrides (values parsed as YAML scalars: ``lr=3e-4``, ``lora=true``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from feedlearn.common.errors import FeedlearnError, did_you_mean
from feedlearn.common.io import read_text_file


class TrainConfig(BaseModel):
    """Options every training stage shares (each with a default and help text)."""

    # no NaN/inf: lr=nan or lr=inf would pass gt=0 and train to garbage
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    model: str = Field(..., description="Hub id or local directory of the model to start from.")
    data: str = Field(..., description="LMFlow dataset (file or folder) to train on.")
    output_dir: str = Field(..., description="Where checkpoints, logs, the final model and summary.json go.")
    eval_data: str | None = Field(None, description="Held-out LMFlow dataset evaluated after training.")
    template: str | None = Field(None, description="Chat template name; default: the tokenizer's own.")
    max_steps: int = Field(100, gt=0, description="Optimizer steps.")
    batch_size: int = Field(8, gt=0, le=1 << 16, description="Sequences per device per step.")
    grad_accum: int = Field(1, gt=0, description="Gradient accumulation steps.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (linear warm-up, then cosine).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Fraction of steps for warm-up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_length: int = Field(512, gt=8, le=1 << 20, description="Longest sequence (tokens); longer ones are truncated.")
    seed: int = Field(0, ge=0, lt=2**32, description="Seed for initialisation, data order and dropout (numpy's range).")
    save_steps: int = Field(50, gt=0, description="Checkpoint every N steps (resume continues from the last).")
    save_total_limit: int = Field(2, gt=0, description="Checkpoints kept.")
    logging_steps: int = Field(10, gt=0, description="Log loss every N steps (log.jsonl).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations to save memory.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("float32", description="Model weights' dtype.")
    lora: bool = Field(False, description="Train LoRA adapters instead of all weights.")
    lora_r: int = Field(8, gt=0, le=1 << 16, description="LoRA rank.")
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


def _model_at(cls: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The (nested) model class that holds the field at ``loc``, following lists and optionals."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(str(part))
        if field is None:
            return None
        inner = [a for a in _flatten(field.annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return None
        cls = inner[0]
    return cls


def _flatten(annotation: Any) -> list[Any]:
    args = get_args(annotation)
    return [annotation] if not args else [x for a in args for x in _flatten(a)]


def problem(exc: ValidationError, cls: type[BaseModel] | None = None) -> str:
    """The first error as ``key: message``, with the close match of a mistyped key."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] != "extra_forbidden":
        return f"{key}: {err['msg'].removeprefix('Value error, ')}"
    holder = _model_at(cls, err["loc"]) if cls is not None else None
    return f"{key}: unknown option" + (did_you_mean(err["loc"][-1], list(holder.model_fields)) if holder else "")


def _error(source: str, exc: ValidationError, cls: type[BaseModel] | None = None) -> FeedlearnError:
    return FeedlearnError(f"{source}: {problem(exc, cls)}")


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
        text = read_text_file(path, "config file")
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FeedlearnError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
        except RecursionError:
            raise FeedlearnError(f"{path}: invalid YAML (nested too deeply)") from None
        if not isinstance(loaded, dict):
            raise FeedlearnError(f"{path}: expected a mapping of options")
        values.update(loaded)
    extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides or [])
    values.update(extra)
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        raise _error(source, exc, cls) from None
