"""Export a Llama-architecture model directory (e.g. one tuned by ``feedlearn tune``) to one GGUF file.

GGUF is what llama.cpp, its server, llama-cpp-python, Ollama and LM Studio load, so an exported
model can play ``feedlearn bargain`` through ``openai:MODEL@http://127.0.0.1:PORT/v1``.
Written here because llama.cpp's own converter (``convert_hf_to_gguf.py``) is not installable
from PyPI; its file writer, the ``gguf`` package, is, and does the format (header, key-values,
alignment, the HF → GGUF tensor-name map). What is ours is the mapping of one architecture:

* hyper-parameters from ``config.json`` (``llama.*`` keys);
* every tensor by gguf's name map, f32 or f16 (norms stay f32); q and k projections permuted from
  transformers' rotate-half layout (the two halves of each head's vector are rotated together)
  to the interleaved pairs that llama.cpp's ``llama`` rope rotates — without this the logits differ;
* the byte-level BPE vocabulary as ``gpt2`` tokens with special tokens as control tokens, the
  merges and special ids via ``gguf.SpecialVocab``, GPT-2's pre-tokenizer;
* the chat template without transformers' ``{% generation %}`` markers (plain Jinja for llama.cpp).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.models import load_model, model_source

DTYPES = ("f32", "f16")


def permute_for_rope(weight, heads: int):
    """(out, in) q/k weight in rotate-half order → interleaved pairs, per head.

    transformers rotates dims ``i`` and ``i + d/2`` of each head together; llama.cpp's llama rope
    rotates ``2i`` and ``2i + 1``. Row ``h·d + j·(d/2) + i`` (half ``j``) moves to ``h·d + 2i + j``.
    """
    out = weight.shape[0]
    return weight.reshape(heads, 2, out // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _tokenizer_checks(model_dir: Path) -> dict:
    path = model_dir / "tokenizer.json"
    if not path.exists():
        raise FeedlearnError(f"{path}: missing; GGUF export needs a fast (tokenizer.json) byte-level BPE tokenizer")
    tok = json.loads(path.read_text(encoding="utf-8"))
    if tok["model"]["type"] != "BPE" or tok["model"].get("byte_fallback") or (tok.get("decoder") or {}).get(
            "type") != "ByteLevel":
        raise FeedlearnError(f"{path}: only byte-level BPE tokenizers (GPT-2 style) are exported; this one is "
                             f"{tok['model']['type']}")
    return tok


def export_gguf(model_dir: str | Path, out_path: str | Path, *, dtype: str = "f32") -> Path:
    """Write ``model_dir`` (a Llama causal LM + its tokenizer) to ``out_path`` as GGUF, atomically."""
    try:
        import gguf
    except ImportError:
        raise FeedlearnError("GGUF export needs the gguf package: pip install 'feedlearn[gguf]'") from None
    import numpy as np
    from transformers import AutoConfig, AutoTokenizer

    model_dir, out_path = Path(model_source(model_dir)), Path(out_path)
    if dtype not in DTYPES:
        raise FeedlearnError(f"dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type != "llama":
        raise FeedlearnError(f"{model_dir}: model_type {config.model_type!r}; GGUF export covers llama only")
    _tokenizer_checks(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = load_model(model_dir, device="cpu")
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    rope = getattr(config, "rope_parameters", None) or {}
    rope_theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp, "llama")
        writer.add_name(model_dir.name)
        writer.add_context_length(config.max_position_embeddings)
        writer.add_embedding_length(config.hidden_size)
        writer.add_block_count(config.num_hidden_layers)
        writer.add_feed_forward_length(config.intermediate_size)
        writer.add_head_count(heads)
        writer.add_head_count_kv(kv_heads)
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
        writer.add_rope_dimension_count(head_dim)
        writer.add_rope_freq_base(float(rope_theta))
        writer.add_layer_norm_rms_eps(config.rms_norm_eps)
        writer.add_vocab_size(len(tokenizer))
        writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)

        special_ids = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")  # the GPT-2 split regex, as transformers' ByteLevel(use_regex=True)
        writer.add_token_list(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))
        writer.add_token_types([gguf.TokenType.CONTROL if i in special_ids else gguf.TokenType.NORMAL
                                for i in range(len(tokenizer))])
        special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokenizer))
        special.chat_template = (tokenizer.chat_template or "").replace("{% generation %}", "").replace(
            "{% endgeneration %}", "") or None
        special.add_to_gguf(writer)
        writer.add_add_bos_token(bool(getattr(tokenizer, "add_bos_token", False)))

        names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
        for hf_name, tensor in model.state_dict().items():
            if hf_name == "lm_head.weight" and config.tie_word_embeddings:
                continue  # llama.cpp reuses token_embd when output.weight is absent
            name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
            if name is None:
                raise FeedlearnError(f"{model_dir}: no GGUF name for tensor {hf_name}")
            data = tensor.detach().float().numpy()
            if hf_name.endswith("q_proj.weight"):
                data = permute_for_rope(data, heads)
            elif hf_name.endswith("k_proj.weight"):
                data = permute_for_rope(data, kv_heads)
            keep_f32 = dtype == "f32" or data.ndim == 1  # norm vectors stay f32 (llama.cpp's convention)
            writer.add_tensor(name, data.astype(np.float32 if keep_f32 else np.float16))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out_path
