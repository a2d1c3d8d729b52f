"""QLoRA's merge: adapters applied to the base reloaded unquantized give the adapter model's logits."""

from __future__ import annotations

import pytest
import torch

from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.models import load_model, load_tokenizer
from feedlearn.tune.precision import resolve_precision
from feedlearn.tune.stages import SFTConfig
from feedlearn.tune.trainer import prepare_model, quantization_config, save_final

IDS = torch.tensor([[5, 17, 42, 99, 3, 250, 8]])


def _trained_lora(tiny_dir, tmp_path, **options):
    """A LoRA model whose B matrices are no longer zero (as after training), and its config with ``qlora``:
    save_final then takes QLoRA's path (reload the base unquantized, merge, save) — no GPU needed."""
    config = load_config(SFTConfig, None, {"model": str(tiny_dir), "data": "d", "output_dir": str(tmp_path / "out"),
                                           "lora": True, "lora_r": 4, **options})
    tokenizer = load_tokenizer(tiny_dir)
    model = prepare_model(config, tokenizer)
    config = config.model_copy(update={"qlora": True})
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=g) * 1e-3)  # a small update, as fine-tuning makes
    return config, tokenizer, model.eval()


def test_merged_16bit_model_gives_the_adapter_models_logits(tiny_dir, tmp_path):
    config, tokenizer, model = _trained_lora(tiny_dir, tmp_path, precision="fp32")
    with torch.no_grad():
        expected = model(input_ids=IDS).logits
    model.merge_and_unload = lambda: pytest.fail("merged into the training (4-bit) weights")
    merged_dir = save_final(model, tokenizer, config)
    assert merged_dir.name == "final-merged" and (merged_dir.parent / "final" / "adapter_config.json").exists()
    merged = load_model(merged_dir).eval()
    with torch.no_grad():
        got = merged(input_ids=IDS).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    # the update was kept: a weight moved by exactly scale · B·A (alpha 16 / r 4 = 4)
    base = load_model(tiny_dir).state_dict()
    key = "model.layers.0.self_attn.q_proj.weight"
    lora = {n: p for n, p in model.named_parameters() if "layers.0.self_attn.q_proj.lora" in n}
    a, b = (next(v for n, v in lora.items() if f"lora_{x}" in n) for x in "AB")
    torch.testing.assert_close(merged.state_dict()[key] - base[key], 4.0 * b.detach() @ a.detach(), rtol=0, atol=1e-7)


def test_merged_bf16_model_is_saved_in_bf16_and_close_to_the_adapter_model(tiny_dir, tmp_path):
    config, tokenizer, model = _trained_lora(tiny_dir, tmp_path, precision="bf16-mixed")
    merged = load_model(save_final(model, tokenizer, config))
    assert {p.dtype for p in merged.parameters()} == {torch.bfloat16}  # the compute dtype: 16 bits, not 4
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model(input_ids=IDS).logits.float()
        got = merged(input_ids=IDS).logits.float()
    torch.testing.assert_close(got, expected, rtol=0, atol=0.05)  # bf16 rounding of W + BA only


def test_double_quantization_is_an_option():
    pytest.importorskip("transformers").BitsAndBytesConfig  # noqa: B018
    base = {"model": "m", "data": "d", "output_dir": "o", "qlora": True}
    bf16 = resolve_precision("bf16-mixed", cuda=False)
    plain = quantization_config(load_config(SFTConfig, None, base), bf16)
    double = quantization_config(load_config(SFTConfig, None, {**base, "qlora_double_quant": True}), bf16)
    assert (plain.bnb_4bit_use_double_quant, double.bnb_4bit_use_double_quant) == (False, True)
    assert double.bnb_4bit_quant_type == "nf4" and double.bnb_4bit_compute_dtype == torch.bfloat16


def test_adapters_that_do_not_fit_the_base_are_one_line(tiny_dir, tmp_path):
    from feedlearn.tune.merge import merge_adapters

    with pytest.raises(FeedlearnError, match="cannot apply these LoRA adapters"):
        merge_adapters(str(tiny_dir), tmp_path / "none", load_tokenizer(tiny_dir), dtype="float32")
