"""Scoring conversations with a reward model, and the RLHF evaluation metrics built on it.

``RewardScorer`` loads a reward model (``reward`` stage output) with its own tokenizer and chat
template, so it can judge replies of a policy that uses another tokenizer. Metrics:

* mean reward of a model's greedy replies to held-out prompts;
* win rate of model A over model B: the fraction of prompts where A's reply scores higher (ties
  count half);
* KL to a reference on the model's own replies: mean over replies of Σ_t [log π(y_t) − log π_ref(y_t)]
  (a Monte-Carlo estimate of KL(π‖π_ref) per reply);
* mean reply length in tokens.
"""

from __future__ import annotations

from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.infer import GenerationOptions, generate
from feedlearn.tune.trainer import PadCollator

Messages = list[dict[str, str]]


class RewardScorer:
    def __init__(self, model_dir: str, *, max_length: int = 1024, batch_size: int = 16) -> None:
        from feedlearn.tune.models import default_device, load_model, load_tokenizer

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
        from feedlearn.tune.stages.reward import render, score_batch

        seqs = [render({"messages": c}, self.tokenizer)[: self.max_length] for c in conversations]
        collate, out = PadCollator(self.tokenizer.pad_token_id), []
        for start in range(0, len(seqs), self.batch_size):
            batch = collate([{"input_ids": s, "labels": s} for s in seqs[start:start + self.batch_size]])
            device = self.model.device
            out += score_batch(self.model, batch["input_ids"].to(device), batch["attention_mask"].to(device)).tolist()
        return out


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
