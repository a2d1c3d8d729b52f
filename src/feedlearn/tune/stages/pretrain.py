"""``pretrain``: continued pre-training (domain adaptation) on ``text_only`` data.

Texts are tokenized, each followed by the EOS token (the document boundary), concatenated and cut
into ``block_size`` blocks — packing, so no compute goes to padding; the last partial block is
dropped unless it is the only one. Every token is a label. Evaluation: perplexity on held-out
text packed the same way.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.evaluate import evaluate
from feedlearn.tune.features import pack
from feedlearn.tune.stage import Stage
from feedlearn.tune.trainer import Features


class PretrainConfig(TrainConfig):
    block_size: int = Field(256, gt=1, description="Tokens per packed training block.")


class Pretrain(Stage):
    name = "pretrain"
    config_class = PretrainConfig
    data_types = ("text_only",)

    def features(self, config: PretrainConfig, tokenizer: Any, data: TuneDataset) -> Features:
        blocks = pack([inst["text"] for inst in data.instances], tokenizer, config.block_size)
        return Features([{"input_ids": b, "labels": list(b)} for b in blocks])

    def evaluate(self, model: Any, tokenizer: Any, config: PretrainConfig, data: TuneDataset) -> dict[str, float]:
        return evaluate(model, tokenizer, data, "perplexity", block_size=config.block_size)
