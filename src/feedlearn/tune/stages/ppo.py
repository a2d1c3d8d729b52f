"""``ppo``: actor-critic PPO against a reward model with a per-token KL penalty (DeepSpeed-Chat's recipe).

Models: the **actor** (policy) starts from ``model`` (full or LoRA); the **reference** is the
starting model, frozen (with LoRA: the same network with its adapters switched off); the
**critic** gives a value per token and starts from ``critic_model`` (default: the reward model,
as DeepSpeed-Chat does) — it reads the actor's tokens, so it must share the actor's tokenizer;
the **reward model** scores finished (prompt, reply) conversations with its own tokenizer.

Each step (``max_steps`` of them):

1. rollout — ``batch_size`` prompts (a seeded shuffle, epoch after epoch); the actor samples a
   reply to each (``temperature``, at most ``max_new_tokens``, stopping at its end-of-turn token);
2. experience — old log-probs (actor), reference log-probs, values (critic) on the reply tokens;
   the reward model's score of each reply (``missing_eos_penalty`` for replies cut off);
   per-token rewards ``−kl_coef·(log π − log π_ref)`` plus the clipped score on the last token;
   advantages and returns by GAE (``gamma``, ``lam``), advantages whitened;
3. ``ppo_epochs`` (4) passes over mini-batches of ``mini_batch_size`` (half the rollout): the clipped
   policy loss steps the actor's optimizer, the clipped value loss the critic's (two optimizers, as
   DeepSpeed-Chat). Only the very first update sees ratio 1; later ones see a moved policy, so the
   clip can act (``ratio_deviation`` = mean |ρ − 1| in ``log.jsonl``, tested > 0).

The critic may be LoRA (``critic_lora``: adapters on the backbone plus its value head trained).
Both run in the config's ``precision`` (bf16/fp16 autocast over fp32 weights, ``precision.py``).

The arithmetic lives in ``feedlearn.tune.rl`` (hand-worked tests). Dropout stays off throughout,
so the first update's probability ratio is exactly 1. Checkpoints (actor and critic weights,
optimizers, schedulers, RNG; tensors and plain values only, loaded with ``weights_only=True``)
every ``save_steps``; a rerun continues from the last one and ends with the same weights as an
uninterrupted run (tested); the output_dir rules of ``run_state`` apply as to every stage.
``log.jsonl`` gets the mean score, KL, losses, clip fraction and reply length; the summary adds
generation and training throughput.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, model_validator
from tqdm import tqdm

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune import rl
from feedlearn.tune.evaluate import evaluate
from feedlearn.tune.infer import render_prompt, stop_ids
from feedlearn.tune.models import default_device, fit_embeddings, load_model, load_tokenizer
from feedlearn.tune.precision import resolve_precision
from feedlearn.tune.records import append_log, build_summary, last_checkpoint, per_second, save_checkpoint, write_summary
from feedlearn.tune.run_state import refused_load
from feedlearn.tune.sampling import SamplingConfig, SamplingStage
from feedlearn.tune.scorers import is_registered
from feedlearn.tune.sharding import rank_and_world, shard
from feedlearn.tune.trainer import add_lora, load_stage_tokenizer, master_weights, peak_memory_bytes, prepare_model, save_final

STATE = "ppo_state.pt"  # in each checkpoint folder


class PPOConfig(SamplingConfig):
    critic_model: str | None = Field(None, description="Score model the critic starts from (default: reward_model).")
    critic_lora: bool = Field(False, description="Train the critic as LoRA adapters (lora_r, lora_alpha, ...) and "
                              "its value head, not all its weights.")
    lr: float = Field(1e-5, gt=0, description="Actor's peak learning rate.")
    critic_lr: float = Field(5e-5, gt=0, description="Critic's peak learning rate.")
    mini_batch_size: int | None = Field(None, gt=0, description="Replies per update (default: half of batch_size, "
                                        "at least 1).")
    ppo_epochs: int = Field(4, gt=0, description="Passes over each rollout batch (after the first update the "
                            "policy has moved, so the ratio leaves 1 and the clip acts).")
    kl_coef: float = Field(0.1, ge=0, description="β of the per-token KL penalty to the reference.")
    clip_range: float = Field(0.2, gt=0, description="ε of the clipped policy ratio.")
    value_clip_range: float = Field(0.2, gt=0, description="How far a value may move from its rollout value.")
    clip_score: float = Field(5.0, gt=0, description="Reward-model scores are clipped to ±this.")
    gamma: float = Field(1.0, gt=0, le=1, description="Discount over reply tokens.")
    lam: float = Field(0.95, ge=0, le=1, description="GAE's λ.")
    whiten_advantages: bool = Field(True, description="Normalise advantages per rollout batch.")
    missing_eos_penalty: float | None = Field(None, description="Subtracted from the score of replies cut off.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping of both models.")

    @model_validator(mode="after")
    def _critic_has_a_model(self):
        if self.critic_model is None and is_registered(self.reward_model):
            raise ValueError(f"reward_model {self.reward_model!r} is computed, not a model the critic can start "
                             "from: give critic_model=<a score model with the policy's tokenizer>")
        return self

    @model_validator(mode="after")
    def _sharded_ppo_trains_all_weights(self):
        """PPO's own loop (not the Trainer) has no LoRA-under-FSDP2 path or sharded checkpoints yet."""
        if self.strategy != "none" and (self.lora or self.critic_lora):
            raise ValueError(f"ppo with strategy {self.strategy} trains all weights: set lora=false and "
                             "critic_lora=false, or strategy=none")
        return self


class ValueModel(torch.nn.Module):
    """A score model's backbone and scalar head, applied at every token (the critic's V(s_t))."""

    def __init__(self, score_model: Any) -> None:
        super().__init__()
        self.backbone = getattr(score_model, score_model.base_model_prefix)
        self.head = score_model.score

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
        return self.head(hidden.last_hidden_state).squeeze(-1).float()


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of left-padded rows: the first real token is position 0, as during generation."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def reply_mask(responses: torch.Tensor, stop: list[int]) -> torch.Tensor:
    """1 on each reply's tokens up to and including its first stop token, 0 after."""
    is_stop = torch.isin(responses, torch.tensor(stop, device=responses.device))
    after = (is_stop.cumsum(1) - is_stop.long()) > 0  # strictly after the first stop token
    return (~after).long()


def token_logprobs(model: Any, input_ids: torch.Tensor, mask: torch.Tensor, n_prompt: int,
                   temperature: float) -> torch.Tensor:
    """log π(y_t | prefix) of the reply tokens (after ``n_prompt``) under ``model`` at ``temperature``."""
    logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions(mask)).logits
    logits = logits[:, n_prompt - 1:-1].float() / temperature
    return torch.log_softmax(logits, -1).gather(-1, input_ids[:, n_prompt:, None])[..., 0]


class PPO(SamplingStage):
    name = "ppo"
    config_class = PPOConfig

    def run(self, config: PPOConfig) -> dict[str, Any]:
        started = time.perf_counter()
        out = Path(config.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        prompts, scorer = self.prompts_and_scorer(config)
        tokenizer = load_stage_tokenizer(config)
        side, tokenizer.padding_side = tokenizer.padding_side, "left"  # rollouts: prompts end where replies start
        actor = prepare_model(config, tokenizer)  # seeds torch; LoRA when asked
        reference = None if hasattr(actor, "disable_adapter") else _frozen_copy(config)
        critic = self._critic(config, tokenizer)
        rank, world = rank_and_world(config.strategy)
        if config.strategy != "none":  # actor and critic sharded (feedlearn.dist); reference, reward model local
            shard(actor, config.strategy, config.ranks_per_node)
            shard(critic, config.strategy, config.ranks_per_node)
            if reference is not None:
                reference.to(default_device())
        else:
            for model in (actor, reference, critic):
                if model is not None and not getattr(model, "is_loaded_in_4bit", False):  # 4-bit: placed when loaded
                    model.to(default_device())
        actor.eval(), critic.eval()  # no dropout: the first update's ratio is exactly 1
        optim = _optimizers(config, actor, critic)
        step, rng = 0, torch.Generator().manual_seed(config.seed + rank)
        stats = {"gen_tokens": 0, "gen_seconds": 0.0, "train_tokens": 0, "train_seconds": 0.0}
        history: list[dict[str, float]] = []  # first and last step's records (all steps in log.jsonl)
        # sharded runs do not checkpoint yet (the Trainer stages do, with DCP): they start again
        resume = last_checkpoint(out, STATE) if world == 1 else None
        if resume is not None:  # at max_steps already (killed before summary.json): no step, just finish
            step, rng, stats, history = _load_checkpoint(resume, actor, critic, optim)
        per_step = config.batch_size * world  # each rank rolls out its own batch_size prompts
        order = _prompt_order(len(prompts), per_step * config.max_steps, config.seed)
        quiet = not sys.stderr.isatty() or rank != 0
        with tqdm(total=config.max_steps, initial=step, desc="ppo", disable=quiet) as bar:
            while step < config.max_steps:
                start = (step * world + rank) * config.batch_size
                batch = [prompts[i] for i in order[start:start + config.batch_size]]
                record = _mean_over_ranks(self._step(config, batch, tokenizer, actor, reference, critic, scorer,
                                                     optim, rng, stats, world), world)
                step += 1
                record = {"step": step, **record, "lr": optim["actor_sched"].get_last_lr()[0]}
                history = [*history[:1], record]
                if rank == 0 and (step % config.logging_steps == 0 or step == config.max_steps):
                    append_log(out, record)
                if world == 1 and (step % config.save_steps == 0 or step == config.max_steps):
                    _save_checkpoint(out, step, rng, actor, critic, optim, config.save_total_limit, stats, history)
                bar.update(1)
                bar.set_postfix(score=f"{record['score']:.3f}", kl=f"{record['kl']:.3f}")
        tokenizer.padding_side = side  # saved as it came
        final = save_final(actor, tokenizer, config)  # sharded: gathered on every rank, saved by rank 0
        if rank != 0:
            return {"stage": self.name, "model": str(final), "steps": step, "main_rank": False}
        metrics = self._evaluate(config, final, scorer) if config.eval_data else {}
        summary = build_summary(
            self.name, config, final, steps=step, resumed_from=resume and str(resume),
            train_loss=history[-1]["policy_loss"] if history else None,
            tokens=stats["gen_tokens"] + stats["train_tokens"], seconds=stats["gen_seconds"] + stats["train_seconds"],
            peak_memory_bytes=peak_memory_bytes(), eval=metrics, started=started,
            first_score=history[0]["score"] if history else None, last_score=history[-1]["score"] if history else None,
            generation_tokens_per_second=per_second(stats["gen_tokens"], stats["gen_seconds"]),
            training_tokens_per_second=per_second(stats["train_tokens"], stats["train_seconds"]))
        write_summary(out, summary)
        return summary

    def _critic(self, config: PPOConfig, tokenizer: Any) -> ValueModel:
        path = config.critic_model or config.reward_model
        if load_tokenizer(path, template=config.template).get_vocab() != tokenizer.get_vocab():
            raise FeedlearnError(f"critic_model {path}: its tokenizer differs from the policy's; the critic reads "
                                 "the policy's tokens — pass critic_model=<a score model with the policy's tokenizer>")
        precision = resolve_precision(config.precision)
        score_model = load_model(path, head="score", dtype=precision.load_dtype(config.critic_lora))
        fit_embeddings(score_model, tokenizer)
        if config.critic_lora:  # LoRA layers go inside the model's own modules; the value head trains whole
            score_model = add_lora(score_model, config, head="score").base_model.model
        return ValueModel(master_weights(score_model, precision))

    def _step(self, config: PPOConfig, batch: list, tokenizer: Any, actor: Any, reference: Any, critic: ValueModel,
              scorer: Any, optim: dict[str, Any], rng: torch.Generator, stats: dict[str, float],
              world: int) -> dict[str, float]:
        device = next(actor.parameters()).device
        autocast = resolve_precision(config.precision).autocast(device)  # -mixed: bf16/fp16 matmuls, fp32 weights
        t0 = time.perf_counter()
        enc = tokenizer([render_prompt(p, tokenizer) for p in batch], return_tensors="pt", padding=True,
                        add_special_tokens=False).to(device)
        stop = stop_ids(tokenizer, actor)
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=rng)))
        with torch.no_grad(), autocast:
            # sharded: ranks finish at different lengths, but every forward is a collective — keep
            # stepping until all are done (transformers' synced_gpus, the ZeRO-3 generation mode)
            seqs = actor.generate(**enc, max_new_tokens=config.max_new_tokens, do_sample=True,
                                  temperature=config.temperature, top_k=0, top_p=1.0, eos_token_id=stop,
                                  pad_token_id=tokenizer.pad_token_id, synced_gpus=world > 1)
        n_prompt = enc["input_ids"].shape[1]
        responses = seqs[:, n_prompt:]
        mask = reply_mask(responses, stop)
        full_mask = torch.cat([enc["attention_mask"], mask], 1)
        stats["gen_tokens"] += int(mask.sum())
        stats["gen_seconds"] += time.perf_counter() - t0

        t1 = time.perf_counter()
        texts = [tokenizer.decode(r[m.bool()], skip_special_tokens=True).strip() for r, m in zip(responses, mask)]
        score = torch.tensor(scorer.score([p + [{"role": "assistant", "content": t}] for p, t in zip(batch, texts)]),
                             device=device)
        stopped = torch.isin(responses, torch.tensor(stop, device=device)).any(1)
        if config.missing_eos_penalty is not None:
            score = score - config.missing_eos_penalty * (~stopped).float()
        with torch.no_grad(), autocast:
            old_logp = token_logprobs(actor, seqs, full_mask, n_prompt, config.temperature)
            if reference is None:
                with actor.disable_adapter():
                    ref_logp = token_logprobs(actor, seqs, full_mask, n_prompt, config.temperature)
            else:
                ref_logp = token_logprobs(reference, seqs, full_mask, n_prompt, config.temperature)
            old_values = critic(seqs, full_mask, positions(full_mask))[:, n_prompt - 1:-1]
        with torch.no_grad():  # the arithmetic in fp32 (logprobs and values are fp32 already)
            rewards, kl = rl.token_rewards(score, old_logp, ref_logp, mask, config.kl_coef, config.clip_score)
            advantages, returns = rl.gae(rewards, old_values, mask, config.gamma, config.lam)
            if config.whiten_advantages:
                advantages = rl.masked_whiten(advantages, mask)

        sums = {"policy_loss": 0.0, "value_loss": 0.0, "clip_fraction": 0.0, "ratio_deviation": 0.0}
        mini = config.mini_batch_size or max(1, config.batch_size // 2)
        updates = 0
        for _ in range(config.ppo_epochs):
            for idx in torch.randperm(len(batch), generator=rng).split(mini):
                ids, m, rmask = seqs[idx], full_mask[idx], mask[idx]
                with autocast:
                    logp = token_logprobs(actor, ids, m, n_prompt, config.temperature)
                pg, clip_fraction = rl.policy_loss(logp, old_logp[idx], advantages[idx], rmask, config.clip_range)
                _update(pg, actor, optim["actor"], config.max_grad_norm, optim["actor_scaler"])
                with autocast:
                    values = critic(ids, m, positions(m))[:, n_prompt - 1:-1]
                vf = rl.value_loss(values, old_values[idx], returns[idx], rmask, config.value_clip_range)
                _update(vf, critic, optim["critic"], config.max_grad_norm, optim["critic_scaler"])
                sums["policy_loss"] += float(pg.detach())
                sums["value_loss"] += float(vf.detach())
                sums["clip_fraction"] += float(clip_fraction)
                sums["ratio_deviation"] += float(rl.masked_mean((logp.detach() - old_logp[idx]).exp().sub(1).abs(), rmask))
                stats["train_tokens"] += int(m.sum())
                updates += 1
        optim["actor_sched"].step()
        optim["critic_sched"].step()
        stats["train_seconds"] += time.perf_counter() - t1
        return {"score": float(score.mean()), "kl": float(kl.sum(1).mean()),
                "reply_length": float(mask.sum(1).float().mean()), "stopped": float(stopped.float().mean()),
                **{k: v / updates for k, v in sums.items()}}

    def _evaluate(self, config: PPOConfig, final: Path, scorer: Any) -> dict[str, float]:
        model, tokenizer = load_model(str(final)), load_tokenizer(str(final))
        return evaluate(model, tokenizer, self.load(config.eval_data), "rlhf", scorer=scorer,
                        reference=load_model(config.model), max_new_tokens=config.max_new_tokens)


def _mean_over_ranks(record: dict[str, float], world: int) -> dict[str, float]:
    """The step's logged numbers averaged over ranks (each rank measured its own batch)."""
    if world == 1:
        return record
    import torch.distributed as dist

    values = torch.tensor(list(record.values()), dtype=torch.float64)
    dist.all_reduce(values)
    return {k: float(v) / world for k, v in zip(record, values)}


def _frozen_copy(config: PPOConfig) -> Any:
    reference = load_model(config.model, dtype=resolve_precision(config.precision).weights_name)  # computes as the actor
    fit_embeddings(reference, load_stage_tokenizer(config))
    reference.eval().requires_grad_(False)
    return reference


def _prompt_order(n: int, at_least: int, seed: int) -> list[int]:
    """Prompt indices epoch after epoch (a new seeded permutation each), at least ``at_least`` long."""
    order: list[int] = []
    epoch = 0
    while len(order) < at_least:
        order += torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
        epoch += 1
    return order


def _optimizers(config: PPOConfig, actor: Any, critic: ValueModel) -> dict[str, Any]:
    from transformers import get_scheduler

    warmup = int(config.warmup_ratio * config.max_steps)
    actor_opt = torch.optim.AdamW([p for p in actor.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    critic_opt = torch.optim.AdamW([p for p in critic.parameters() if p.requires_grad], lr=config.critic_lr,
                                   weight_decay=config.weight_decay)
    precision = resolve_precision(config.precision)
    device = next(actor.parameters()).device
    return {"actor": actor_opt, "critic": critic_opt,
            # fp16-mixed's loss scalers (pass-through otherwise), checkpointed with the optimizers
            "actor_scaler": precision.grad_scaler(device), "critic_scaler": precision.grad_scaler(device),
            "actor_sched": get_scheduler("cosine", actor_opt, warmup, config.max_steps),
            "critic_sched": get_scheduler("cosine", critic_opt, warmup, config.max_steps)}


def _update(loss: torch.Tensor, model: Any, optimizer: Any, max_norm: float, scaler: torch.amp.GradScaler) -> None:
    """One clipped step; ``scaler`` scales fp16 losses (a pass-through otherwise), unscaled before clipping."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)
    scaler.step(optimizer)
    scaler.update()


def _trainable_state(model: Any) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k in names}


def _save_checkpoint(out: Path, step: int, rng: torch.Generator, actor: Any, critic: ValueModel,
                     optim: dict[str, Any], keep: int, stats: dict[str, float], history: list[dict[str, float]]) -> None:
    """Everything a resume needs, as tensors, numbers, strings, lists and dicts only: the file loads with
    ``weights_only=True``, so a planted ``ppo_state.pt`` cannot run code (RNG states are uint8 tensors)."""
    state = {"step": step, "rng": rng.get_state(), "torch_rng": torch.get_rng_state(),
             "actor": _trainable_state(actor), "critic": critic.state_dict(),
             "stats": dict(stats), "history": list(history),
             **{f"optim.{k}": v.state_dict() for k, v in optim.items()}}
    save_checkpoint(out, step, lambda d: torch.save(state, d / STATE), keep, STATE)


def _load_checkpoint(path: Path, actor: Any, critic: ValueModel, optim: dict[str, Any]):
    """Restore a checkpoint; returns (step, rollout RNG, throughput counters, first/last records).

    ``weights_only=True``: a file holding anything but tensors and plain values is refused unread.
    """
    import pickle

    file = path / STATE
    try:
        state = torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise refused_load(file, exc) from None
    except (OSError, RuntimeError, EOFError) as exc:
        raise FeedlearnError(f"{file}: not a PPO checkpoint ({type(exc).__name__}: {exc})") from None
    needed = ("step", "rng", "torch_rng", "actor", "critic", *(f"optim.{k}" for k in optim))
    if not isinstance(state, dict) or any(k not in state for k in needed):
        raise FeedlearnError(f"{file}: not a PPO checkpoint (expected the keys {', '.join(needed)})")
    if not isinstance(state["step"], int) or state["step"] < 0:
        raise FeedlearnError(f"{file}: step must be a whole number >= 0, got {state['step']!r}")
    missing = set(_trainable_state(actor)) - set(state["actor"])
    if missing:
        raise FeedlearnError(f"{file}: checkpoint lacks {len(missing)} trainable tensors (made with other options?)")
    try:
        actor.load_state_dict(state["actor"], strict=False)
        critic.load_state_dict(state["critic"])
        for k, v in optim.items():
            v.load_state_dict(state[f"optim.{k}"])
        rng = torch.Generator()
        rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise FeedlearnError(f"{file}: does not fit this run ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    stats = {"gen_tokens": 0, "gen_seconds": 0.0, "train_tokens": 0, "train_seconds": 0.0}
    if isinstance(state.get("stats"), dict):
        stats.update({k: v for k, v in state["stats"].items() if k in stats and isinstance(v, (int, float))})
    history = [r for r in state.get("history", []) if isinstance(r, dict)][-2:]
    return state["step"], rng, stats, history
