"""Stage configs: one pydantic model per stage, loadable from YAML, overridable from the CLI.

``TrainConfig`` holds what every training stage shares (model, data, optimisation, LoRA,
checkpoints); a stage's own config subclasses it. They are read with
``feedlearn.common.config.load_config(cls, yaml_path, overrides)`` (unknown keys are errors naming
the file and key; overrides are ``key=value`` YAML scalars: ``lr=3e-4``, ``lora=true``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# the deprecated ``dtype`` option: what its values meant (the weights' dtype, no autocast; auto: the
# checkpoint's). Here, not in precision.py: this module is imported without torch (the CLI's start-up)
DTYPE_PRECISION = {"float32": "fp32", "bfloat16": "bf16-true", "auto": "auto"}


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
    precision: Literal["auto", "fp32", "bf16-mixed", "fp16-mixed", "bf16-true"] = Field(
        "auto", description="Weights' and compute dtypes (feedlearn.tune.precision): auto = bf16 autocast over fp32 "
        "weights where the GPU has bf16, fp32 on CPU.")
    dtype: Literal["auto", "float32", "bfloat16"] | None = Field(
        None, description="Deprecated: the weights' dtype without autocast (float32 = precision fp32, "
        "bfloat16 = bf16-true); use precision.")
    lora: bool = Field(False, description="Train LoRA adapters instead of all weights.")
    lora_r: int = Field(8, gt=0, le=1 << 16, description="LoRA rank.")
    lora_alpha: int = Field(16, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on LoRA inputs.")
    lora_target_modules: list[str] | str = Field("all-linear", description="Modules given adapters.")
    qlora: bool = Field(False, description="Load the base model in 4-bit NF4 under LoRA (CUDA and the qlora extra: "
                        "bitsandbytes); adapters merge into the base reloaded in 16 bits.")
    qlora_double_quant: bool = Field(False, description="QLoRA: also quantize the 4-bit blocks' scales (saves "
                                     "~0.4 bit per weight).")
    merge_lora: bool = Field(True, description="Also save the adapters merged into the base weights.")
    lisa_layers: int = Field(0, ge=0, description="LISA: train only N randomly chosen layers at a time (0: off).")
    lisa_interval: int = Field(20, gt=0, description="LISA: steps between re-drawing the trained layers.")
    optimizer_state: str | None = Field(None, description="Start AdamW from this optimizer.pt (its moments and step "
                                        "count; the learning rate follows this run's schedule): RAFT's carry_optimizer.")
    strategy: str = Field("none", description="Sharded data parallel under torchrun: none, or a strategy of "
                          "feedlearn.dist (zero3, zeropp or one technique: qwz, hpz, qgz).")
    ranks_per_node: int | None = Field(None, gt=0, description="strategy: ranks per node (default LOCAL_WORLD_SIZE).")

    @model_validator(mode="after")
    def _dtype_is_a_precision(self) -> TrainConfig:
        """``dtype`` (older configs) names a precision; both given must agree (an inner stage gets both)."""
        if self.dtype is not None:
            meant = DTYPE_PRECISION[self.dtype]
            if self.precision not in ("auto", meant):
                raise ValueError(f"dtype {self.dtype} means precision {meant}, not {self.precision}; give precision only")
            self.precision = meant
        return self

    @model_validator(mode="after")
    def _qlora_on_one_device(self) -> TrainConfig:
        """bitsandbytes' 4-bit weights are not plain tensors FSDP2 can shard."""
        if self.qlora and self.strategy != "none":
            raise ValueError(f"qlora trains on one GPU; with strategy {self.strategy} use lora=true (16-bit base, sharded)")
        return self

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, strategy: str) -> str:
        """The names are dist's registry's (``STRATEGIES``), so a new strategy there is one here too."""
        if strategy == "none":
            return strategy
        from feedlearn.dist.zeropp import STRATEGIES  # FSDP: ~2 s to import, only when a strategy is named

        if strategy not in STRATEGIES:
            raise ValueError(f"Input should be 'none' or one of {', '.join(repr(s) for s in STRATEGIES)}")
        return strategy
