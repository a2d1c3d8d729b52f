"""PPO: the losses and GAE worked out by hand, token bookkeeping, and the stage raising its reward."""

from __future__ import annotations

import json

import pytest
import torch

from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune import rl
from feedlearn.tune.models import load_model
from feedlearn.tune.stages import STAGES, PPOConfig, run_stage
from feedlearn.tune.stages.ppo import PPO, positions, reply_mask, token_logprobs
from feedlearn.tune.tiny import TinyConfig, init_tiny
from tests.tune.conftest import sort_prompts

T = torch.tensor


def test_masked_whiten_by_hand():
    out = rl.masked_whiten(T([[1.0, 3.0, 99.0]]), T([[1.0, 1.0, 0.0]]))
    assert out[0].tolist() == pytest.approx([-1.0, 1.0, 0.0], abs=1e-6)


def test_token_rewards_by_hand():
    rewards, kl = rl.token_rewards(T([2.0]), T([[-1.0, -2.0]]), T([[-1.5, -1.0]]), T([[1.0, 1.0]]), kl_coef=0.1)
    assert kl[0].tolist() == pytest.approx([0.5, -1.0])
    assert rewards[0].tolist() == pytest.approx([-0.05, 2.1])
    # the score lands on the last *real* token of a right-padded reply, and is clipped
    rewards, _ = rl.token_rewards(T([9.0]), T([[0.0, 0.0, 0.0]]), T([[0.0, 0.0, 0.0]]), T([[1.0, 1.0, 0.0]]),
                                  kl_coef=0.1, clip_score=5.0)
    assert rewards.tolist() == [[0.0, 5.0, 0.0]]


def test_gae_by_hand_and_against_the_sum_formula():
    adv, ret = rl.gae(T([[0.0, 1.0]]), T([[0.5, 0.25]]), T([[1.0, 1.0]]), gamma=1.0, lam=0.5)
    assert adv[0].tolist() == pytest.approx([0.125, 0.75])
    assert ret[0].tolist() == pytest.approx([0.625, 1.0])
    # A_t = Σ_l (γλ)^l δ_{t+l} on random padded rows
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    mask = T([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]).float()
    adv, _ = rl.gae(r, v, mask, gamma=0.9, lam=0.8)
    for b in range(3):
        n = int(mask[b].sum())
        vals = list(v[b, :n]) + [0.0]
        deltas = [r[b, t] + 0.9 * vals[t + 1] - vals[t] for t in range(n)]
        expected = [sum((0.9 * 0.8) ** k * deltas[t + k] for k in range(n - t)) for t in range(n)]
        assert adv[b, :n].tolist() == pytest.approx([float(e) for e in expected], abs=1e-5)
        assert adv[b, n:].abs().sum() == 0


def test_policy_loss_by_hand():
    ratio = T([[1.5, 1.5, 0.5]])
    loss, clip_fraction = rl.policy_loss(ratio.log(), torch.zeros(1, 3), T([[1.0, -1.0, 1.0]]), torch.ones(1, 3))
    assert float(loss) == pytest.approx((-1.2 + 1.5 - 0.5) / 3)
    assert float(clip_fraction) == pytest.approx(1 / 3)
    # at ratio 1 the loss is −mean(A) and nothing is clipped
    loss, clip_fraction = rl.policy_loss(torch.zeros(1, 2), torch.zeros(1, 2), T([[2.0, 4.0]]), torch.ones(1, 2))
    assert float(loss) == -3.0 and float(clip_fraction) == 0.0


def test_value_loss_by_hand():
    loss = rl.value_loss(T([[1.0, 0.1]]), T([[0.0, 0.0]]), T([[1.0, 1.0]]), torch.ones(1, 2))
    assert float(loss) == pytest.approx(0.5 * (0.64 + 0.81) / 2)


def test_reply_mask_ends_at_the_first_stop_token():
    responses = T([[5, 6, 2, 0, 0], [5, 6, 7, 8, 9], [2, 0, 0, 0, 0]])
    assert reply_mask(responses, [2]).tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]


def test_left_padded_logprobs_equal_unpadded_ones(tiny_dir):
    model = load_model(tiny_dir)
    long_, short = [11, 12, 13, 14, 15, 16], [21, 22, 23, 24]  # prompts of 4 and 2 tokens, replies of 2
    ids = T([long_, [0, 0] + short])
    mask = T([[1] * 6, [0, 0, 1, 1, 1, 1]])
    assert positions(mask)[1].tolist() == [0, 0, 0, 1, 2, 3]
    batched = token_logprobs(model, ids, mask, 4, temperature=1.0)
    alone = token_logprobs(model, T([short]), torch.ones(1, 4, dtype=torch.long), 2, temperature=1.0)
    assert batched[1].tolist() == pytest.approx(alone[0].tolist(), abs=1e-5)


def ppo_options(tiny_dir, reward_dir, data, out, **kw):
    return {"model": str(tiny_dir), "data": str(data), "reward_model": reward_dir, "output_dir": str(out),
            "max_steps": 40, "batch_size": 16, "mini_batch_size": 8, "lr": 1e-2, "critic_lr": 1e-3,
            "max_new_tokens": 8, "kl_coef": 0.05, "save_steps": 100, "logging_steps": 1, "ppo_epochs": 1, **kw}


def log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_ppo_raises_the_reward_model_score(tiny_dir, reward_dir, tmp_path):
    data = sort_prompts(tmp_path)
    config = load_config(PPOConfig, None, ppo_options(tiny_dir, reward_dir, data, tmp_path / "ppo",
                                                      eval_data=str(data)))
    summary = run_stage(STAGES["ppo"](), config)
    rows = log(tmp_path / "ppo")
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-5)  # the first rollout comes from the reference itself
    first, last = (sum(r["score"] for r in rows[s]) / 10 for s in (slice(0, 10), slice(-10, None)))
    assert last > first + 0.5, (first, last)
    assert summary["generation_tokens_per_second"] > 0 and summary["training_tokens_per_second"] > 0
    assert set(summary["eval"]) >= {"mean_reward", "kl_to_reference", "mean_length"}
    assert summary["eval"]["kl_to_reference"] > 0


def test_ppo_resume_gives_the_same_weights(tiny_dir, reward_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file


    data = sort_prompts(tmp_path)
    kw = {"max_steps": 6, "save_steps": 3}
    run_stage(PPO(), load_config(PPOConfig, None, ppo_options(tiny_dir, reward_dir, data, tmp_path / "a", **kw)))
    calls, real_step = [], PPO._step

    def crash_at_five(self, *args):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_step(self, *args)

    monkeypatch.setattr(PPO, "_step", crash_at_five)
    config = load_config(PPOConfig, None, ppo_options(tiny_dir, reward_dir, data, tmp_path / "b", **kw))
    with pytest.raises(KeyboardInterrupt):
        run_stage(PPO(), config)
    monkeypatch.setattr(PPO, "_step", real_step)
    summary = run_stage(PPO(), config)
    assert summary["resumed_from"].endswith("checkpoint-3")
    a, b = (load_file(tmp_path / d / "final" / "model.safetensors") for d in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ppo_with_lora_uses_the_adapter_free_model_as_reference(tiny_dir, reward_dir, tmp_path):
    data = sort_prompts(tmp_path)
    config = load_config(PPOConfig, None, ppo_options(tiny_dir, reward_dir, data, tmp_path / "lora", max_steps=3,
                                                      lora=True, lora_r=4))
    summary = run_stage(STAGES["ppo"](), config)
    rows = log(tmp_path / "lora")
    assert rows[0]["kl"] == 0.0  # LoRA's B starts at zero: policy = reference exactly
    assert rows[-1]["kl"] != 0.0
    assert summary["model"].endswith("final-merged")


def test_critic_must_share_the_policy_tokenizer(tiny_dir, reward_dir, tmp_path):
    from tests.tune.conftest import CORPUS

    other = init_tiny(tmp_path / "other", TinyConfig(vocab_size=300, hidden_size=32, layers=1, heads=2,
                                                      intermediate_size=64, max_positions=128), texts=iter(CORPUS))
    data = sort_prompts(tmp_path)
    config = load_config(PPOConfig, None, ppo_options(other, reward_dir, data, tmp_path / "x", max_steps=1))
    with pytest.raises(FeedlearnError, match="critic_model .*tokenizer differs"):
        run_stage(STAGES["ppo"](), config)


def test_default_epochs_move_the_ratio_off_one_and_the_critic_can_be_lora(tiny_dir, reward_dir, tmp_path):
    """Defaults: 4 epochs over 2 mini-batches, so every update but the first sees a moved policy (ρ ≠ 1).
    One update per rollout (the old default) never does: its ratio is exactly 1."""
    data = sort_prompts(tmp_path, n=4)
    small = {"max_steps": 1, "batch_size": 4, "max_new_tokens": 4}
    options = {**ppo_options(tiny_dir, reward_dir, data, tmp_path / "default", critic_lora=True, lora_r=4, **small)}
    del options["ppo_epochs"], options["mini_batch_size"]  # the defaults
    config = load_config(PPOConfig, None, options)
    assert (config.ppo_epochs, config.mini_batch_size) == (4, None)
    run_stage(STAGES["ppo"](), config)
    assert log(tmp_path / "default")[0]["ratio_deviation"] > 1e-3
    critic = torch.load(tmp_path / "default" / "checkpoint-1" / "ppo_state.pt", weights_only=True)["critic"]
    assert any("lora_A" in k for k in critic) and any("modules_to_save" in k for k in critic)

    one = load_config(PPOConfig, None, ppo_options(tiny_dir, reward_dir, data, tmp_path / "one", mini_batch_size=4,
                                                   **small))
    run_stage(STAGES["ppo"](), one)
    assert log(tmp_path / "one")[0]["ratio_deviation"] == 0.0


def test_a_computed_reward_needs_a_critic_model_before_any_work(tmp_path):
    """``game:seller`` scores by playing games: there is no model for the critic to start from."""
    options = {"model": str(tmp_path / "m"), "data": str(tmp_path / "d.json"), "output_dir": str(tmp_path / "x"),
               "reward_model": "game:seller"}
    with pytest.raises(FeedlearnError, match="reward_model 'game:seller' is computed, not a model the critic can "
                                             "start from: give critic_model="):
        load_config(PPOConfig, None, options)
    assert load_config(PPOConfig, None, {**options, "critic_model": str(tmp_path / "rm")}).critic_model
