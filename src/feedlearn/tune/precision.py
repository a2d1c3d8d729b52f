"""Numeric precision of training: which dtype the weights (and so the optimizer state) live in, and
which dtype the matmuls run in.

``precision`` (every stage's config) names one ``Precision`` of ``PRECISIONS``:

* ``fp32``: fp32 weights, fp32 compute (the CPU default: the tiny recipe's numbers);
* ``bf16-mixed``: fp32 *master* weights and Adam state, bf16 autocast for the forward/backward —
  what GPU users expect: bf16 speed without losing small updates;
* ``fp16-mixed``: the same with fp16 autocast and loss scaling (GPUs without bf16, e.g. T4/V100);
* ``bf16-true``: bf16 weights and optimizer state. Half the memory, but an Adam step of lr 1e-5 on a
  weight of 0.02 is ~1e-5, below bf16's spacing there (~1.2e-4): most updates round away (tested);
* ``auto`` (default): bf16-mixed where the device supports bf16, fp16-mixed on older GPUs, fp32 on CPU.

Under LoRA the frozen base is loaded in the compute dtype (it gets no updates, so nothing is lost)
and peft keeps the adapters in fp32; full fine-tuning keeps every weight in fp32 under ``-mixed``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from feedlearn.common.errors import FeedlearnError


@dataclass(frozen=True)
class Precision:
    """Where the weights live and how the model computes."""

    name: str
    weights: torch.dtype  # trainable weights and optimizer state
    compute: torch.dtype | None = None  # autocast dtype (None: no autocast, compute in ``weights``)
    loss_scaling: bool = False  # fp16's narrow range needs a GradScaler

    @property
    def mixed(self) -> bool:
        return self.compute is not None

    @property
    def weights_name(self) -> str:
        """``weights`` as ``load_model`` names it (float32, bfloat16)."""
        return str(self.weights).removeprefix("torch.")

    def load_dtype(self, lora: bool) -> str:
        """The dtype to load a model in (``load_model``'s name): a frozen LoRA base may sit in the compute dtype."""
        dtype = self.compute if (lora and self.mixed) else self.weights
        return str(dtype).removeprefix("torch.")

    def trainer_flags(self) -> dict[str, bool]:
        """transformers' ``TrainingArguments`` switches: its autocast (and fp16's scaler) for ``-mixed``."""
        return {"bf16": self.compute is torch.bfloat16, "fp16": self.compute is torch.float16}

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        """Autocast for a loop outside the Trainer (PPO); a no-op for fp32 and ``-true``."""
        kind = torch.device(device).type
        if self.compute is None:
            return contextlib.nullcontext()
        return torch.autocast(kind, dtype=self.compute)

    def grad_scaler(self, device: torch.device | str) -> torch.amp.GradScaler:
        """A loss scaler (a pass-through unless ``loss_scaling``): its state goes into checkpoints."""
        return torch.amp.GradScaler(torch.device(device).type, enabled=self.loss_scaling)


PRECISIONS: dict[str, Precision] = {
    "fp32": Precision("fp32", torch.float32),
    "bf16-mixed": Precision("bf16-mixed", torch.float32, torch.bfloat16),
    "fp16-mixed": Precision("fp16-mixed", torch.float32, torch.float16, loss_scaling=True),
    "bf16-true": Precision("bf16-true", torch.bfloat16),
}


def auto_precision(cuda: bool, bf16: bool) -> str:
    """``auto``: bf16-mixed where the GPU has bf16, fp16-mixed on an older GPU, fp32 on CPU."""
    if not cuda:
        return "fp32"
    return "bf16-mixed" if bf16 else "fp16-mixed"


def resolve_precision(name: str, *, cuda: bool | None = None, bf16: bool | None = None) -> Precision:
    """The ``Precision`` a config's ``precision`` names on this machine (``auto`` decided here; ``cuda`` and
    ``bf16``: what the machine has, asked of torch unless given)."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if name == "auto":
        name = auto_precision(cuda, torch.cuda.is_bf16_supported() if bf16 is None and cuda else bool(bf16))
    if name not in PRECISIONS:
        raise FeedlearnError(f"precision {name!r}: use auto or one of {', '.join(PRECISIONS)}")
    if PRECISIONS[name].loss_scaling and not cuda:
        raise FeedlearnError(f"precision {name}: loss-scaled fp16 needs a CUDA GPU; on CPU use bf16-mixed or fp32")
    return PRECISIONS[name]
