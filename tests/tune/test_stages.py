"""Stages: token features checked by hand, training lowers the loss, resume is exact, LoRA merges."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback

from feedlearn.cli import main
from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune import trainer as trainer_module
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.evaluate import perplexity
from feedlearn.tune.features import IGNORE, pack, sft_features
from feedlearn.tune.infer import GenerationOptions, generate
from feedlearn.tune.models import load_model, load_tokenizer
from feedlearn.tune.stages import STAGES, PretrainConfig, SFTConfig, run_stage
from tests.tune.conftest import CORPUS, sort_conversations


@pytest.fixture()
def sft_data(tmp_path):
    return save_dataset(TuneDataset("conversation", sort_conversations()), tmp_path / "sft.json")


def config(cls, tiny_dir, data, out, **kw):
    return load_config(cls, None, {"model": str(tiny_dir), "data": str(data), "output_dir": str(out), "max_steps": 6,
                                   "batch_size": 4, "save_steps": 3, "logging_steps": 1, **kw})


def test_pack_joins_documents_with_eos_and_cuts_blocks(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    a, b = tok("the quick", add_special_tokens=False)["input_ids"], tok("brown fox", add_special_tokens=False)["input_ids"]
    stream = a + [tok.eos_token_id] + b + [tok.eos_token_id]
    assert pack(["the quick", "brown fox"], tok, 3) == [stream[i:i + 3] for i in range(0, len(stream) - 2, 3)]
    assert pack(["the quick"], tok, 1000) == [a + [tok.eos_token_id]]  # a lone short block is kept


def test_sft_labels_token_by_token(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    conv = TuneDataset("conversation", sort_conversations(1))
    (row,), dropped = sft_features(conv, tok, "assistant", 512)
    learned = [tok.decode([t]) for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE]
    assert "".join(learned) == "0 0<|im_end|>" and dropped == 0
    assert all(label in (IGNORE, t) for t, label in zip(row["input_ids"], row["labels"]))
    (all_row,), _ = sft_features(conv, tok, "all", 512)
    assert all_row["labels"] == all_row["input_ids"]
    t2t = TuneDataset("text2text", [{"input": "Sort 3 1", "output": "1 3"}])
    (row,), _ = sft_features(t2t, tok, "assistant", 512)
    prompt = tok("Sort 3 1", add_special_tokens=False)["input_ids"]
    answer = tok("1 3", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert row == {"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer}
    # truncation that leaves no loss token drops the example
    assert sft_features(t2t, tok, "assistant", len(prompt)) == ([], 1)


def test_sft_summary_counts_the_examples_truncation_left_without_a_loss_token(tiny_dir, tmp_path):
    long = " ".join(["the quick brown fox"] * 10)  # ~40 tokens: max_length 16 cuts the answer off
    rows = [{"input": "Sort 3 1", "output": "1 3"}, {"input": long, "output": "x"}, {"input": "Sort 2 1", "output": "1 2"}]
    data = save_dataset(TuneDataset("text2text", rows), tmp_path / "t2t.json")
    summary = run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, data, tmp_path / "out", max_steps=1,
                                                batch_size=2, max_length=16))
    assert (summary["examples"], summary["dropped"]) == (2, 1)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["dropped"] == 1


def test_sft_trains_changes_weights_and_lowers_loss(tiny_dir, sft_data, tmp_path):
    before = load_model(tiny_dir).state_dict()
    cfg = config(SFTConfig, tiny_dir, sft_data, tmp_path / "out", eval_data=str(sft_data), max_steps=30, lr=3e-3)
    summary = run_stage(STAGES["sft"](), cfg)
    after = load_model(summary["model"]).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    log = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 30 and sum(losses[-5:]) < sum(losses[:5])
    assert summary["eval"]["loss"] < 4.0 and summary["tokens"] > 0 and summary["peak_memory_bytes"] > 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["steps"] == 30


class StopAt(TrainerCallback):
    """Simulates Ctrl-C after ``step`` steps (and their checkpoint)."""

    def __init__(self, step):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tiny_dir, sft_data, tmp_path, monkeypatch):
    whole = run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, sft_data, tmp_path / "whole"))
    real_train = trainer_module.train
    monkeypatch.setattr("feedlearn.tune.stage.train",
                        lambda *a, **k: real_train(*a, **k, extra_callbacks=[StopAt(3)]))
    with pytest.raises(KeyboardInterrupt):
        run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, sft_data, tmp_path / "cut"))
    monkeypatch.undo()
    resumed = run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, sft_data, tmp_path / "cut"))
    assert resumed["resumed_from"].endswith("checkpoint-3") and resumed["steps"] == 6
    a, b = load_model(whole["model"]).state_dict(), load_model(resumed["model"]).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_lora_adapters_merge_to_the_same_outputs(tiny_dir, sft_data, tmp_path):
    from peft import PeftModel

    summary = run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, sft_data, tmp_path / "lora", lora=True, lr=1e-2))
    assert summary["model"].endswith("final-merged")
    base = load_model(tiny_dir)
    adapter = PeftModel.from_pretrained(base, str(tmp_path / "lora" / "final"))
    merged = load_model(summary["model"])
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    with torch.no_grad():
        assert torch.allclose(adapter(ids).logits, merged(ids).logits, atol=1e-5)
        assert not torch.allclose(load_model(tiny_dir)(ids).logits, merged(ids).logits, atol=1e-4)


def test_pretrain_lowers_perplexity(tiny_dir, tmp_path):
    data = save_dataset(TuneDataset("text_only", [{"text": t} for t in CORPUS]), tmp_path / "text.json")
    cfg = config(PretrainConfig, tiny_dir, data, tmp_path / "pt", eval_data=str(data), block_size=32, max_steps=20,
                 lr=3e-3)

    before = perplexity(load_model(tiny_dir), load_tokenizer(tiny_dir), CORPUS, 32)
    summary = run_stage(STAGES["pretrain"](), cfg)
    assert summary["eval"]["perplexity"] < 0.5 * before


def test_wrong_data_type_and_qlora_on_cpu(tiny_dir, sft_data, tmp_path):
    with pytest.raises(FeedlearnError, match="pretrain trains on text_only data, not conversation"):
        run_stage(STAGES["pretrain"](), config(PretrainConfig, tiny_dir, sft_data, tmp_path / "x"))
    if not torch.cuda.is_available():
        with pytest.raises(FeedlearnError, match="qlora: 4-bit loading needs a CUDA GPU"):
            run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, sft_data, tmp_path / "q", qlora=True))


def test_train_cli(tiny_dir, sft_data, tmp_path, capsys):
    args = ["tune", "train", "sft", f"model={tiny_dir}", f"data={sft_data}", f"output_dir={tmp_path / 'c'}", "max_steps=2"]
    assert main(args) == 0
    assert "sft: 2 steps, train loss" in capsys.readouterr().out
    assert main(["tune", "train", "ppo2", "x=1"]) == 2
    assert "unknown stage 'ppo2'" in capsys.readouterr().err


def test_sft_teaches_the_reply_and_the_stop(tiny_dir, tmp_path):
    conv = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]}] * 16
    data = save_dataset(TuneDataset("conversation", conv), tmp_path / "hi.json")
    summary = run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, data, tmp_path / "hi", max_steps=40, lr=1e-2,
                                                save_steps=100))
    model, tok = load_model(summary["model"]), load_tokenizer(summary["model"])
    (reply,) = generate(model, tok, [[{"role": "user", "content": "hi"}]], GenerationOptions(max_new_tokens=20))
    n_reply = len(tok("hello there", add_special_tokens=False)["input_ids"])
    assert reply.text == "hello there" and reply.stopped and reply.tokens == n_reply + 1  # + <|im_end|>


def test_sft_loss_equals_trl_sft_trainer(tiny_dir, sft_data, tmp_path):
    """Reference check: same model, data and settings -> TRL's SFTTrainer reports the same loss."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig as TrlConfig
    from trl import SFTTrainer

    ours = run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, sft_data, tmp_path / "ours", max_steps=3,
                                             save_steps=100, lr=1e-3))
    instances = json.loads(sft_data.read_text())["instances"]
    args = TrlConfig(output_dir=str(tmp_path / "trl"), max_steps=3, per_device_train_batch_size=4, learning_rate=1e-3,
                     warmup_steps=0, lr_scheduler_type="cosine", max_length=512, assistant_only_loss=True,
                     save_strategy="no", report_to=[], use_cpu=True, bf16=False, seed=0, logging_steps=1)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_dir), args=args,
                         train_dataset=Dataset.from_list(instances), processing_class=AutoTokenizer.from_pretrained(tiny_dir))
    theirs = trainer.train().training_loss
    assert ours["train_loss"] == pytest.approx(theirs, rel=1e-5)


def test_lisa_and_gradient_checkpointing_train_inside_the_trainer(tiny_dir, sft_data, tmp_path):
    before = load_model(tiny_dir).state_dict()
    summary = run_stage(STAGES["sft"](), config(SFTConfig, tiny_dir, sft_data, tmp_path / "lisa", max_steps=2,
                                                lisa_layers=1, lisa_interval=5, gradient_checkpointing=True))
    after = load_model(summary["model"]).state_dict()
    changed = {k.split(".")[2] for k in before if k.startswith("model.layers.") and not torch.equal(before[k], after[k])}
    assert len(changed) == 1  # only the one drawn layer trained
    assert not torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
