"""LISA (Pan et al. 2024): train only a few randomly chosen transformer layers at a time.

Every ``interval`` steps, ``n_layers`` of the decoder layers are drawn at random (seeded) and made
trainable, all other decoder layers frozen; embeddings and the LM head always train. Frozen
parameters get no gradient, so AdamW skips them — memory for activations' gradients and optimizer
work scale with ``n_layers`` instead of the depth. Written as a ``TrainerCallback`` because LMFlow's
version is tied to its own trainer.
"""

from __future__ import annotations

import random

import torch
from transformers import TrainerCallback


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The model's stack of decoder layers (the ModuleList as long as ``num_hidden_layers``)."""
    depth = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == depth:
            return module
    raise ValueError("LISA: cannot find the decoder layers of this model")


class LisaCallback(TrainerCallback):
    """Re-draws the trained layers every ``interval`` steps; the draw depends on (seed, step) only,
    so a resumed run trains the same layers as an uninterrupted one."""

    def __init__(self, n_layers: int, interval: int, seed: int) -> None:
        self.n_layers, self.interval, self.seed = n_layers, interval, seed
        self.active: list[int] = []
        self._trainable: set[int] | None = None  # ids of the layer parameters meant to train (LoRA: adapters)

    def draw(self, model: torch.nn.Module, step: int) -> list[int]:
        layers = decoder_layers(model)
        if self._trainable is None:
            self._trainable = {id(p) for p in layers.parameters() if p.requires_grad}
        rng = random.Random(self.seed * 1_000_003 + step)
        self.active = sorted(rng.sample(range(len(layers)), min(self.n_layers, len(layers))))
        for i, layer in enumerate(layers):
            for p in layer.parameters():
                if id(p) in self._trainable:
                    p.requires_grad_(i in self.active)
        return self.active

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if model is not None and state.global_step % self.interval == 0:
            self.draw(model, state.global_step)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is not None:  # also after a resume: the layers of the current interval
            self.draw(model, state.global_step - state.global_step % self.interval)
