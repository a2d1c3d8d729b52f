"""RLHF throughput: generation and training tokens/s of ``ppo`` and ``dpo`` (and TRL's ``grpo``).

The axes DeepSpeed-Chat and ZeRO++ report for RLHF (ZeRO++ claims 2.25x generation and 1.26x
training throughput over ZeRO-3 on GPU clusters). Each is printed as a ratio against a reference
measured in the same run, on the same model, prompts and batch:

* PPO rollout generation vs plain ``model.generate`` sampling (our ``infer.generate``): the overhead
  of the PPO loop around generation (target ~1.0x);
* PPO training (experience: actor, reference and critic forward passes and reward scoring; then the
  actor's and the critic's update) vs ``sft`` training on the same sequences — PPO does 3 forward
  and 2 forward+backward passes where SFT does one forward+backward (below 1x; the tiny model
  on CPU is overhead-bound, measured 0.76x);
* DPO training (policy on chosen+rejected, reference forward) vs ``sft`` (measured 0.62x);
* TRL's GRPO (generation + training, no critic) vs our PPO end to end.

The model has random weights (tokens/s do not depend on what it learned; replies run to
``--new-tokens`` since it never says EOS); the reward model is the same network with a score head.

    python bench/tune_rlhf.py                    # tiny model (1.3M params), CPU, ~1 min
    python bench/tune_rlhf.py --size 1b          # a ~1.1B Llama config (TinyLlama's shape); wants a GPU
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

SIZES = {
    "tiny": {},
    "1b": {"hidden_size": 2048, "layers": 22, "heads": 32, "intermediate_size": 5632},
}


def make_models(tmp: Path, size: str) -> tuple[str, str]:
    """A policy directory and a reward-model directory (the same weights with a score head)."""
    from feedlearn.tune.models import load_model, load_tokenizer
    from feedlearn.tune.tiny import TinyConfig, init_tiny

    policy = init_tiny(tmp / "policy", TinyConfig(**SIZES[size]))
    reward = tmp / "reward"
    load_model(str(policy), head="score").save_pretrained(reward)
    load_tokenizer(str(policy)).save_pretrained(reward)
    return str(policy), str(reward)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="tiny")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as hf_logging

    from feedlearn.common.config import load_config
    from feedlearn.tune.data import save_dataset
    from feedlearn.tune.data.synthetic import synthetic_dataset, synthetic_preferences
    from feedlearn.tune.infer import GenerationOptions, generate
    from feedlearn.tune.models import load_model, load_tokenizer
    from feedlearn.tune.stages import STAGES, run_stage

    hf_logging.set_verbosity_error()  # the reward model's new score head is expected here
    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    console = Console(highlight=False)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        policy, reward = make_models(tmp, args.size)
        n = args.batch * args.steps
        chats = synthetic_dataset(n, tasks=("sort",), fmt="conversation", seed=1)
        prompts_path = save_dataset(chats, tmp / "prompts.json")
        pairs_path = save_dataset(synthetic_preferences(n, tasks=("sort",), seed=2), tmp / "pairs.json")
        common = {"model": policy, "max_steps": args.steps, "batch_size": args.batch, "save_steps": 10**6,
                  "logging_steps": 10**6, "dtype": args.dtype}

        def stage(name: str, **options) -> dict:
            runner = STAGES[name]()
            config = load_config(runner.config_class, None, {**common, "output_dir": str(tmp / name), **options})
            return run_stage(runner, config)

        # reference generation: plain sampling over the same prompts, same batch and length
        model, tokenizer = load_model(policy, dtype=args.dtype), load_tokenizer(policy)
        if torch.cuda.is_available():
            model = model.cuda()
        prompts = [inst["messages"][:1] for inst in chats.instances]
        started = time.perf_counter()
        done = generate(model, tokenizer, prompts, GenerationOptions(max_new_tokens=args.new_tokens, temperature=1.0,
                                                                     batch_size=args.batch))
        generate_tps = sum(c.tokens for c in done) / (time.perf_counter() - started)
        del model

        sft = stage("sft", data=str(prompts_path), lr=1e-4)
        ppo = stage("ppo", data=str(prompts_path), reward_model=reward, max_new_tokens=args.new_tokens)
        dpo = stage("dpo", data=str(pairs_path))
        grpo = stage("grpo", data=str(prompts_path), reward_model=reward, max_new_tokens=args.new_tokens,
                     num_generations=4)

    ppo_total = ppo["tokens"] / ppo["seconds"]
    grpo_total = grpo["tokens"] / grpo["seconds"]
    rows = [
        ("generation: plain sampling (reference)", generate_tps, 1.0),
        ("generation: ppo rollouts", ppo["generation_tokens_per_second"], ppo["generation_tokens_per_second"] / generate_tps),
        ("training: sft (reference)", sft["tokens_per_second"], 1.0),
        ("training: ppo (experience + actor and critic updates)", ppo["training_tokens_per_second"],
         ppo["training_tokens_per_second"] / sft["tokens_per_second"]),
        ("training: dpo (TRL)", dpo["tokens_per_second"], dpo["tokens_per_second"] / sft["tokens_per_second"]),
        ("end to end: ppo (reference)", ppo_total, 1.0),
        ("end to end: grpo (TRL, 4 replies per prompt, no critic)", grpo_total, grpo_total / ppo_total),
    ]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    table = Table(title=f"RLHF throughput, {args.size} model, {device}, {args.steps} steps x {args.batch}, "
                        f"{args.new_tokens} new tokens, {args.dtype}")
    for column in ("", "tokens/s", "ratio to its reference"):
        table.add_column(column, justify="right" if column else "left")
    for label, tps, ratio in rows:
        table.add_row(label, f"{tps:,.0f}", f"{ratio:.2f}x")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
