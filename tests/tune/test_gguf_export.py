"""GGUF export: the rope permutation by hand, and a round trip through gguf's own reader.

That llama.cpp computes the same logits from the file is checked in tests/bargain/test_llama_cpp.py
where llama-cpp-python is installed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from feedlearn.cli import main  # noqa: E402
from feedlearn.common.errors import FeedlearnError  # noqa: E402
from feedlearn.tune.gguf_export import export_gguf, permute_for_rope  # noqa: E402
from feedlearn.tune.models import load_model, load_tokenizer  # noqa: E402


def test_permute_for_rope_by_hand():
    """One head of 4 dims: transformers pairs (0, 2) and (1, 3); llama.cpp pairs (0, 1) and (2, 3) —
    so rows 0, 1, 2, 3 go to 0, 2, 1, 3. Two heads: each head permuted on its own."""
    w = np.arange(8, dtype=np.float32).reshape(8, 1)
    assert permute_for_rope(w[:4], heads=1).ravel().tolist() == [0, 2, 1, 3]
    assert permute_for_rope(w, heads=2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    wide = np.arange(24, dtype=np.float32).reshape(8, 3)  # columns (inputs) are untouched
    assert permute_for_rope(wide, heads=2)[1].tolist() == wide[2].tolist()


def fields(reader) -> dict:
    out = {}
    for name, field in reader.fields.items():
        try:
            out[name] = field.contents()
        except Exception:  # a key whose type the reader does not render
            continue
    return out


def test_round_trip_through_the_gguf_reader(tiny_dir, tmp_path):
    path = export_gguf(tiny_dir, tmp_path / "tiny.gguf")
    reader = gguf.GGUFReader(path)
    kv = fields(reader)
    config = json.loads((tiny_dir / "config.json").read_text())
    tokenizer = load_tokenizer(tiny_dir)
    assert kv["general.architecture"] == "llama"
    assert kv["llama.block_count"] == config["num_hidden_layers"] and kv["llama.embedding_length"] == 32
    assert kv["llama.attention.head_count"] == 2 and kv["llama.rope.dimension_count"] == 16
    assert kv["tokenizer.ggml.model"] == "gpt2" and kv["tokenizer.ggml.pre"] == "gpt-2"
    assert kv["tokenizer.ggml.tokens"] == tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    types = kv["tokenizer.ggml.token_type"]
    assert [types[i] for i in range(3)] == [gguf.TokenType.CONTROL] * 3 and types[10] == gguf.TokenType.NORMAL
    merges = json.loads((tiny_dir / "tokenizer.json").read_text())["model"]["merges"]
    assert len(kv["tokenizer.ggml.merges"]) == len(merges)
    assert kv["tokenizer.ggml.eos_token_id"] == tokenizer.eos_token_id
    assert "<|im_start|>" in kv["tokenizer.chat_template"] and "{% generation %}" not in kv["tokenizer.chat_template"]

    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    state = {k: v.numpy() for k, v in load_model(tiny_dir).state_dict().items()}
    assert "output.weight" not in tensors  # tied embeddings: llama.cpp reuses token_embd
    assert np.array_equal(tensors["token_embd.weight"], state["model.embed_tokens.weight"])
    q = state["model.layers.1.self_attn.q_proj.weight"]
    assert np.array_equal(tensors["blk.1.attn_q.weight"], permute_for_rope(q, 2))
    assert np.array_equal(tensors["blk.1.attn_v.weight"], state["model.layers.1.self_attn.v_proj.weight"])
    assert np.array_equal(tensors["blk.0.ffn_gate.weight"], state["model.layers.0.mlp.gate_proj.weight"])
    assert len(tensors) == 2 + 9 * config["num_hidden_layers"]  # embeddings, final norm; 9 per block


def test_f16_halves_the_matrices_and_keeps_norms_f32(tiny_dir, tmp_path):
    f32 = export_gguf(tiny_dir, tmp_path / "a.gguf")
    f16 = export_gguf(tiny_dir, tmp_path / "b.gguf", dtype="f16")
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(f16).tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert f16.stat().st_size < 0.6 * f32.stat().st_size


def test_bad_input_is_one_line(tiny_dir, tmp_path):
    with pytest.raises(FeedlearnError, match="dtype 'q4': choose one of f32, f16"):
        export_gguf(tiny_dir, tmp_path / "x.gguf", dtype="q4")
    other = tmp_path / "gpt2"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(FeedlearnError, match="model_type 'gpt2'; GGUF export covers llama only"):
        export_gguf(other, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists() and not list(tmp_path.glob(".x.gguf.*"))


def test_export_cli(tiny_dir, tmp_path, capsys):
    assert main(["tune", "export-gguf", str(tiny_dir), str(tmp_path / "m.gguf")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "m.gguf").stat().st_size > 10_000
