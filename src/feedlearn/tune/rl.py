"""PPO's arithmetic on padded token tensors: KL-shaped rewards, GAE, clipped policy and value losses.

Shapes are ``(batch, tokens)`` over the *response* tokens, right-padded; ``mask`` is 1 on real
tokens. Every function is pure, so each is tested on cases worked out by hand (the docstrings).
Written here because TRL dropped its PPO trainer; the formulas are DeepSpeed-Chat's / InstructGPT's.
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens only (DeepSpeed-Chat's token-level average)."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit (population) variance over the real tokens; padded positions become 0.

    Example: values [1, 3 | pad] → mean 2, variance 1 → [-1, 1, 0].
    """
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    return (values - mean) * torch.rsqrt(var + eps) * mask


def token_rewards(score: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor,
                  kl_coef: float, clip_score: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards ``r_t = −β·(log π(y_t) − log π_ref(y_t))``, plus the sequence score on its last token.

    Returns ``(rewards, kl)`` with ``kl_t = log π(y_t) − log π_ref(y_t)`` (the k1 estimator; its sum
    over a reply estimates KL(π‖π_ref)). ``score`` is clipped to ±``clip_score`` first.

    Example: β = 0.1, score 2, log π = [−1, −2], log π_ref = [−1.5, −1.0], both tokens real →
    kl = [0.5, −1.0], rewards = [−0.05, 0.1 + 2] = [−0.05, 2.1].
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    if clip_score is not None:
        score = score.clamp(-clip_score, clip_score)
    last = (mask.sum(1).long() - 1).clamp(min=0)  # right-padded: the last real token
    rewards[torch.arange(len(score)), last] += score.to(rewards.dtype)
    return rewards * mask, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over each reply; returns ``(advantages, returns)``.

    ``δ_t = r_t + γ·V_{t+1} − V_t`` (V after the last real token is 0), ``A_t = δ_t + γλ·A_{t+1}``,
    returns ``R_t = A_t + V_t`` (the value targets).

    Example: γ = 1, λ = 0.5, r = [0, 1], V = [0.5, 0.25] →
    δ_1 = 1 + 0 − 0.25 = 0.75, A_1 = 0.75; δ_0 = 0 + 0.25 − 0.5 = −0.25, A_0 = −0.25 + 0.5·0.75 = 0.125;
    R = [0.625, 1.0].
    """
    rewards, values = rewards * mask, values * mask  # padded steps: no reward, no value → no advantage
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip_range: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate ``mean_t max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε))``, ρ = π/π_old; and the clip fraction.

    Example, ε = 0.2, A = [1, −1, 1]: with ρ = [1.5, 1.5, 0.5] the terms are
    max(−1.5, −1.2) = −1.2 (gain capped), max(1.5, 1.2) = 1.5 (loss not capped), max(−0.5, −0.8) = −0.5
    → loss (−1.2 + 1.5 − 0.5)/3 = −0.0667; the clipped term was the max for token 0 only → clip fraction 1/3.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clip_fraction = masked_mean((clipped > unclipped).float(), mask)
    return loss, clip_fraction


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip_range: float = 0.2) -> torch.Tensor:
    """Clipped value loss ``0.5·mean_t max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²)``.

    Example, ε = 0.2, V_old = [0, 0], V = [1, 0.1], R = [1, 1]: token 0 unclipped error 0, clipped
    V 0.2 → error 0.64, max 0.64; token 1: 0.81 both ways → loss 0.5·(0.64 + 0.81)/2 = 0.3625.
    """
    clipped = old_values + (values - old_values).clamp(-clip_range, clip_range)
    worst = torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * masked_mean(worst, mask)
