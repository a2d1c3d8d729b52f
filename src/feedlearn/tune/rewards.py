"""Scoring conversations with a reward model, and the RLHF evaluation metrics built on it.

``RewardScorer`` loads a reward model (``reward`` stage output) with its own tokenizer and chat
template, so it can judge replies of a policy that uses another tokenizer. Metrics:

* mean reward of a model's greedy replies to held-out prompts;
* win rate of model A over model B: the fraction of prompts where A's reply scores higher (ties
  count half);
* KL to a reference on the model's own replies: mean over replies of Σ_t [log π(y_t) − log π_ref(y_t)]
  (a Monte-Carlo estimate of KL(π‖π_ref) per reply);
* mean reply length in tokens.

Pairs (``features.pair_features`` rows) are scored as one batch of chosen then rejected rows
(``PairCollator``), as the reward stage trains on them.
"""

from __future__ import annotations

from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.features import Messages, render
from feedlearn.tune.infer import GenerationOptions, generate
from feedlearn.tune.models import default_device, load_model, load_tokenizer
from feedlearn.tune.trainer import PadCollator


class RewardScorer:
    def __init__(self, model_dir: str, *, max_length: int = 1024, batch_size: int = 16) -> None:
        self.check(max_length=max_length, batch_size=batch_size)
        self.tokenizer = load_tokenizer(model_dir)
        self.model = load_model(model_dir, head="score", device=default_device())
        self.model.eval()
        self.max_length, self.batch_size = max_length, batch_size

    @staticmethod
    def check(*, max_length: int, batch_size: int) -> None:
        """One-line errors for sizes that cannot work (checked before a model is loaded)."""
        for name, value, high in (("max_length", max_length, 1 << 20), ("batch_size", batch_size, 1 << 16)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise FeedlearnError(f"{name} (--{name.replace('_', '-')}) must be a whole number from 1 to {high:,}, "
                                     f"got {value!r}")

    @torch.no_grad()
    def score(self, conversations: list[Messages]) -> list[float]:
        seqs = [render({"messages": c}, self.tokenizer)[: self.max_length] for c in conversations]
        collate, out = PadCollator(self.tokenizer.pad_token_id), []
        for start in range(0, len(seqs), self.batch_size):
            batch = collate([{"input_ids": s, "labels": s} for s in seqs[start:start + self.batch_size]])
            device = self.model.device
            out += score_batch(self.model, batch["input_ids"].to(device), batch["attention_mask"].to(device)).tolist()
        return out


class PairCollator:
    """``input_ids``/``attention_mask`` of 2B right-padded rows (B chosen, then B rejected) + margins."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        seqs = [r["chosen"] for r in rows] + [r["rejected"] for r in rows]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return {"input_ids": ids, "attention_mask": mask, "margin": torch.tensor([r["margin"] for r in rows])}


def score_batch(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """One scalar per row (the score head at the row's last token)."""
    return model(input_ids=input_ids, attention_mask=attention_mask).logits.squeeze(-1).float()


@torch.no_grad()
def pair_rewards(model: Any, rows: list[dict[str, Any]], pad_id: int, batch_size: int = 16) -> list[tuple[float, float]]:
    """``(r_chosen, r_rejected)`` of every pair of ``rows`` (``pair_features`` output)."""
    model.eval()
    collate, out = PairCollator(pad_id), []
    for start in range(0, len(rows), batch_size):
        batch = collate(rows[start:start + batch_size])
        r = score_batch(model, batch["input_ids"].to(model.device), batch["attention_mask"].to(model.device)).tolist()
        half = len(r) // 2
        out += list(zip(r[:half], r[half:]))
    return out


def pairwise_accuracy(model: Any, rows: list[dict[str, Any]], pad_id: int, batch_size: int = 16) -> dict[str, float]:
    """How often the chosen reply scores higher, and the mean gap r_c - r_r (the reward stage's evaluation)."""
    pairs = pair_rewards(model, rows, pad_id, batch_size)
    n = max(len(pairs), 1)
    return {"accuracy": sum(c > r for c, r in pairs) / n, "mean_gap": sum(c - r for c, r in pairs) / n}


def replies(model: Any, tokenizer: Any, prompts: list[Messages], max_new_tokens: int = 32) -> list[str]:
    """Greedy replies (the policy's deterministic behaviour, for evaluation)."""
    return [c.text for c in generate(model, tokenizer, prompts, GenerationOptions(max_new_tokens=max_new_tokens))]


@torch.no_grad()
def reply_logprob(model: Any, tokenizer: Any, prompt: Messages, reply: str) -> tuple[float, int]:
    """Σ log π(reply tokens | prompt) and the number of reply tokens (end-of-turn included)."""
    head = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    full = list(tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": reply}], tokenize=True,
                                              return_dict=True)["input_ids"])
    # the reply ends at its end-of-turn token; the template may add layout (a newline) after it
    end = next((i + 1 for i in range(len(head), len(full)) if full[i] == tokenizer.eos_token_id), len(full))
    ids = torch.tensor([full[:end]], device=model.device)
    logp = torch.log_softmax(model(input_ids=ids).logits.float()[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
    reply_logp = logp[len(head) - 1:]
    return float(reply_logp.sum()), len(reply_logp)


def rlhf_metrics(model: Any, tokenizer: Any, prompts: list[Messages], scorer: RewardScorer, *,
                 reference: Any = None, baseline_replies: list[str] | None = None,
                 max_new_tokens: int = 32) -> dict[str, float]:
    """Mean reward, win rate over ``baseline_replies``, KL to ``reference``, reply length."""
    mine = replies(model, tokenizer, prompts, max_new_tokens)
    rewards = scorer.score([p + [{"role": "assistant", "content": r}] for p, r in zip(prompts, mine)])
    n = max(len(prompts), 1)
    lengths = [len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in mine]
    out = {"mean_reward": sum(rewards) / n, "mean_length": sum(lengths) / n}
    if baseline_replies is not None:
        theirs = scorer.score([p + [{"role": "assistant", "content": r}] for p, r in zip(prompts, baseline_replies)])
        out["win_rate"] = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(rewards, theirs)) / n
    if reference is not None:
        kl = [reply_logprob(model, tokenizer, p, r)[0] - reply_logprob(reference, tokenizer, p, r)[0]
              for p, r in zip(prompts, mine)]
        out["kl_to_reference"] = sum(kl) / n
    return out
