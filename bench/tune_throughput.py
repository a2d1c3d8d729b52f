"""SFT throughput: feedlearn's ``sft`` stage vs a bare TRL ``SFTTrainer`` script, same everything.

Same tiny model (``init_tiny``), same data (synthetic sort/reverse conversations), same
hyper-parameters (batch, steps, learning rate, max length, assistant-only loss), one process each
(so peak memory is each run's own). Prints training tokens/s and peak resident memory, and
feedlearn / TRL ratios (target: tokens/s >= 0.95x).

LLaMA-Factory pins its own torch/transformers, so it lives in its own venv; pass its CLI to add it
(same model, data and settings; its ``chatml`` template renders what ours does):

    python -m venv /tmp/lf && /tmp/lf/bin/pip install torch==2.13.0 llamafactory \
        && /tmp/lf/bin/pip install torch==2.13.0 && /tmp/lf/bin/pip uninstall -y torchvision
    python bench/tune_throughput.py [--steps 60] [--batch 16] [--llamafactory /tmp/lf/bin/llamafactory-cli]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_feedlearn(model: str, data: str, out: str, steps: int, batch: int) -> dict:
    from feedlearn.common.config import load_config
    from feedlearn.tune.stages import STAGES, SFTConfig, run_stage

    config = load_config(SFTConfig, None, {"model": model, "data": data, "output_dir": out, "max_steps": steps,
                                           "batch_size": batch, "lr": 2e-3, "max_length": 256, "save_steps": 10**6,
                                           "logging_steps": 10**6})
    summary = run_stage(STAGES["sft"](), config)
    return {"tokens": summary["tokens"], "seconds": summary["seconds"], "loss": summary["train_loss"]}


def run_trl(model: str, data: str, out: str, steps: int, batch: int) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    instances = json.loads(Path(data).read_text())["instances"]
    dataset = Dataset.from_list([{"messages": i["messages"]} for i in instances])
    tokenizer = AutoTokenizer.from_pretrained(model)
    args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=batch, learning_rate=2e-3,
                     warmup_steps=int(0.05 * steps), lr_scheduler_type="cosine", max_length=256,
                     assistant_only_loss=True, packing=False, save_strategy="no", logging_steps=10**6,
                     report_to=[], use_cpu=True, bf16=False, seed=0, include_num_input_tokens_seen="non_padding",
                     dataloader_num_workers=0)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model), args=args, train_dataset=dataset,
                         processing_class=tokenizer)
    started = time.perf_counter()
    result = trainer.train()
    return {"tokens": int(trainer.state.num_input_tokens_seen), "seconds": time.perf_counter() - started,
            "loss": float(result.training_loss)}


def run_llamafactory(cli: str, model: str, data: str, steps: int, batch: int, tmp: Path) -> dict:
    """LLaMA-Factory's ``train`` on the same model, data and settings, in its own process and venv."""
    import resource

    import yaml

    data_dir = tmp / "lf-data"
    data_dir.mkdir()
    instances = json.loads(Path(data).read_text())["instances"]
    (data_dir / "chat.json").write_text(json.dumps([{"messages": i["messages"]} for i in instances]))
    (data_dir / "dataset_info.json").write_text(json.dumps({"chat": {
        "file_name": "chat.json", "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}))
    out = tmp / "lf-out"
    config = {"model_name_or_path": model, "stage": "sft", "do_train": True, "finetuning_type": "full",
              "dataset": "chat", "dataset_dir": str(data_dir), "template": "chatml", "cutoff_len": 256,
              "output_dir": str(out), "per_device_train_batch_size": batch, "max_steps": steps,
              "learning_rate": 2e-3, "lr_scheduler_type": "cosine", "warmup_steps": int(0.05 * steps),
              "logging_steps": 10**6, "save_strategy": "no", "report_to": "none", "bf16": False, "use_cpu": True,
              "include_num_input_tokens_seen": "non_padding", "overwrite_output_dir": True, "seed": 0,
              "preprocessing_num_workers": 1, "dataloader_num_workers": 0}
    (tmp / "lf.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([cli, "train", str(tmp / "lf.yaml")], capture_output=True, text=True,
                          env={**__import__("os").environ, "DISABLE_VERSION_CHECK": "1"})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads((out / "train_results.json").read_text())
    state = json.loads((out / "trainer_state.json").read_text())
    return {"tokens": int(state.get("num_input_tokens_seen", 0)), "seconds": float(result["train_runtime"]),
            "loss": float(result["train_loss"]),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def child(which: str, model: str, data: str, steps: int, batch: int) -> None:
    import resource

    with tempfile.TemporaryDirectory() as out:
        stats = (run_feedlearn if which == "feedlearn" else run_trl)(model, data, out, steps, batch)
    stats["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(stats))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--child", choices=["feedlearn", "trl"])
    parser.add_argument("--model")
    parser.add_argument("--data")
    parser.add_argument("--llamafactory", help="llamafactory-cli of a venv with LLaMA-Factory installed.")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.data, args.steps, args.batch)
        return 0
    from feedlearn.tune.data import save_dataset
    from feedlearn.tune.data.synthetic import synthetic_dataset
    from feedlearn.tune.tiny import init_tiny

    with tempfile.TemporaryDirectory() as tmp:
        model = str(init_tiny(Path(tmp) / "model"))
        data = str(save_dataset(synthetic_dataset(2000, fmt="conversation", seed=1), Path(tmp) / "chat.json"))
        results = {}
        for which in ("trl", "feedlearn"):
            proc = subprocess.run([sys.executable, __file__, "--child", which, "--model", model, "--data", data,
                                   "--steps", str(args.steps), "--batch", str(args.batch)],
                                  capture_output=True, text=True, cwd=ROOT)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                return 1
            results[which] = json.loads(line.removeprefix("RESULT "))
        if args.llamafactory:
            results["llamafactory"] = run_llamafactory(args.llamafactory, model, data, args.steps, args.batch, Path(tmp))
    print(f"SFT, tiny Llama (1.3M params), {args.steps} steps x batch {args.batch}, synthetic chat data, CPU")
    print(f"{'':12s} {'tokens':>8s} {'seconds':>8s} {'tokens/s':>10s} {'peak RSS MiB':>13s} {'train loss':>10s}")
    for which, r in results.items():
        print(f"{which:12s} {r['tokens']:8d} {r['seconds']:8.2f} {r['tokens'] / r['seconds']:10.0f} "
              f"{r['peak_rss_mib']:13.0f} {r['loss']:10.4f}")
    f = results["feedlearn"]
    for other, target in (("trl", " (target >= 0.95x)"), ("llamafactory", " (target >= 1x)")):
        if other in results:
            o = results[other]
            print(f"feedlearn / {other}: tokens/s {(f['tokens'] / f['seconds']) / (o['tokens'] / o['seconds']):.2f}x"
                  f"{target}, peak memory {f['peak_rss_mib'] / o['peak_rss_mib']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
