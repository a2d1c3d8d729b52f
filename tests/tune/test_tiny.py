"""The embedded tiny model: loadable like a hub checkpoint, deterministic, EOS = end of turn."""

from __future__ import annotations

import pytest
import torch

from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.models import load_model, load_tokenizer
from feedlearn.tune.tiny import TinyConfig, init_tiny, n_parameters, shipped_texts
from tests.tune.conftest import CORPUS


def test_tiny_model_loads_with_auto_classes(tiny_dir):
    model, tok = load_model(tiny_dir), load_tokenizer(tiny_dir)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    assert len(tok) == model.config.vocab_size == 320
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token == "<|im_end|>" and model.generation_config.eos_token_id == im_end
    assert model.config.pad_token_id == tok.pad_token_id == tok.convert_tokens_to_ids("<|endoftext|>")
    assert 10_000 < n_parameters(model) < 100_000
    ids = tok("Sort 3 1 2", return_tensors="pt")["input_ids"]
    assert model(ids).logits.shape == (1, ids.shape[1], 320)


def test_same_seed_same_model(tmp_path):
    config = TinyConfig(vocab_size=300, hidden_size=16, layers=1, heads=2, intermediate_size=32)
    a = init_tiny(tmp_path / "a", config, texts=iter(CORPUS))
    b = init_tiny(tmp_path / "b", config, texts=iter(CORPUS))
    c = init_tiny(tmp_path / "c", TinyConfig(**{**config.__dict__, "seed": 1}), texts=iter(CORPUS))
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    wa, wb, wc = (load_model(p).state_dict() for p in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_refuses_to_overwrite_and_bad_shapes(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FeedlearnError, match="exists and is not empty"):
        init_tiny(tmp_path / "x", texts=iter(CORPUS))
    with pytest.raises(FeedlearnError, match="multiple of heads"):
        init_tiny(tmp_path / "y", TinyConfig(hidden_size=30, heads=4), texts=iter(CORPUS))
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine" and not (tmp_path / "y").exists()


def test_missing_models_are_one_line_errors(tmp_path):
    with pytest.raises(FeedlearnError, match="no such model directory"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeedlearnError, match="cannot load a causal LM"):
        load_model(tmp_path / "empty")
    with pytest.raises(FeedlearnError, match="cannot load a tokenizer"):
        load_tokenizer(tmp_path / "empty")


def test_shipped_text_feeds_the_tokenizer():
    texts = list(shipped_texts())
    assert len(texts) == 30 + 300 + 999 and all(t.strip() for t in texts)


def test_init_tiny_cli(tmp_path, capsys):
    assert main(["tune", "init-tiny", str(tmp_path / "m"), "--vocab-size", "512", "--hidden-size", "32", "--layers", "1",
                 "--heads", "2", "--template", "llama3"]) == 0
    assert "llama3 chat template" in capsys.readouterr().out
    assert load_tokenizer(tmp_path / "m").eos_token == "<|eot_id|>"
