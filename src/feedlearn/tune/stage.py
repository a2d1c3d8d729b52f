"""The stage interface and the one loop every stage runs: load → tokenize → train (resumable) → save →
evaluate → summary.json.

A stage (``feedlearn.tune.stages``, one file each, registry ``STAGES``) subclasses ``Stage`` and fills
its hooks; ``run_stage`` is how the CLI, recipes and stages running other stages (RAFT's rounds) start
one. It lives outside ``stages/`` so that components (sampling, recipes) never import a stage.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import TuneDataset, load_dataset
from feedlearn.tune.models import load_model
from feedlearn.tune.records import build_summary, write_summary
from feedlearn.tune.run_state import stage_run
from feedlearn.tune.sharding import is_main_rank, rank_and_world
from feedlearn.tune.trainer import Features, load_stage_tokenizer, save_final, train

# data rendered with a chat template: a model without one gets ours (templates.DEFAULT_TEMPLATE)
CHAT_TYPES = ("conversation", "paired_conversation")


class Stage:
    """One training stage. Subclasses set ``name``, ``config_class``, ``data_types`` and fill two hooks
    (``features``, ``evaluate``); a stage with its own outer loop (rounds, PPO) overrides ``run``, one
    that needs more of its data than the type's rules (sft: replies; dpo: one prompt per pair) ``require``."""

    name: ClassVar[str]
    config_class: ClassVar[type[TrainConfig]] = TrainConfig
    data_types: ClassVar[tuple[str, ...]]
    # False for a stage that trains a reward model: a recipe's next stages keep the policy they had
    makes_policy: ClassVar[bool] = True

    def features(self, config: TrainConfig, tokenizer: Any, data: TuneDataset) -> Features:
        """Token features (``input_ids``/``labels``) of the training data."""
        raise NotImplementedError

    def evaluate(self, model: Any, tokenizer: Any, config: TrainConfig, data: TuneDataset) -> dict[str, float]:
        """Metrics on held-out data of this stage's types."""
        raise NotImplementedError

    def train_kwargs(self, config: TrainConfig, tokenizer: Any) -> dict[str, Any]:
        """What the stage changes in the shared loop (model head, collator, Trainer subclass)."""
        return {}

    def total_steps(self, config: TrainConfig) -> int:
        """Optimizer steps a finished run has taken (its summary's ``steps``)."""
        return config.max_steps

    def run(self, config: TrainConfig) -> dict[str, Any]:
        """Train and evaluate; returns the summary. Call it through ``run_stage``, which owns the output_dir."""
        return train_once(self, config)

    def require(self, dtype: str, instance: dict[str, Any]) -> None:
        """What this stage needs of an instance beyond its type's rules: raise ``ValueError("field …: …")``
        (reported with the file and row). Most stages need nothing more."""

    def load(self, path: str) -> TuneDataset:
        data = load_dataset(path, require=self.require)
        if data.type not in self.data_types:
            raise FeedlearnError(f"{path}: {self.name} trains on {' or '.join(self.data_types)} data, not {data.type}")
        return data


def run_stage(stage: Stage, config: TrainConfig) -> dict[str, Any]:
    """Run ``stage`` with ``config`` end to end; returns the summary also written to summary.json.

    The output_dir rules (one writer, resume only the same run, a finished run is not retrained)
    are ``feedlearn.tune.run_state``'s.
    """
    rank = rank_and_world(config.strategy)[0]
    with stage_run(stage.name, config, main=rank == 0) as finished:
        if finished is not None:
            return finished if rank == 0 else {**finished, "main_rank": False}
        return stage.run(config)


def train_once(stage: Stage, config: TrainConfig) -> dict[str, Any]:
    """Load → tokenize → train → save → evaluate → summary.json, for one training run.

    Call it through ``run_stage``, which owns the output_dir; summary.json is written last (atomically)
    because it marks the run finished.
    """
    started = time.perf_counter()
    data = stage.load(config.data)
    tokenizer = load_stage_tokenizer(config, chat=data.type in CHAT_TYPES)
    eval_data = stage.load(config.eval_data) if config.eval_data else None
    feats = stage.features(config, tokenizer, data)
    kwargs = stage.train_kwargs(config, tokenizer)
    model, stats = train(config, tokenizer, feats, **kwargs)
    final = save_final(model, tokenizer, config, head=kwargs.get("head", "causal_lm"))
    if config.strategy != "none":  # sharded: rank 0 evaluates a plain copy and writes the summary
        if not is_main_rank():
            return {"stage": stage.name, "model": str(final), **stats, "main_rank": False}
        model = load_model(str(final), head=kwargs.get("head", "causal_lm"))
    metrics = stage.evaluate(model, tokenizer, config, eval_data) if eval_data is not None else {}
    # TRL stages hand over a datasets.Dataset (their trainers tokenize): nothing dropped here
    dropped = feats.dropped if isinstance(feats, Features) else 0
    summary = build_summary(stage.name, config, final, **stats, eval=metrics, started=started, examples=len(feats),
                            dropped=dropped)
    write_summary(config.output_dir, summary)
    return summary
