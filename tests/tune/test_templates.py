"""Chat templates render exactly the published formats; assistant masks cover reply + end token."""

from __future__ import annotations

import pytest

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.models import load_tokenizer
from feedlearn.tune.templates import TEMPLATES, get_template, to_messages

MSGS = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
EXPECTED = {
    "chatml": "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n",
    "qwen2": "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n",
    "llama3": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nA<|eot_id|>",
    "zephyr": "<|system|>\nS</s>\n<|user|>\nQ</s>\n<|assistant|>\nA</s>\n",
}
PROMPT = {
    "chatml": "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n",
    "qwen2": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
             "<|im_start|>assistant\n",
    "llama3": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "zephyr": "<|user|>\nQ</s>\n<|assistant|>\n",
}


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_templates_render_exactly(tiny_dir, name):
    tok = load_tokenizer(tiny_dir, template=name)
    assert tok.apply_chat_template(MSGS, tokenize=False) == EXPECTED[name]
    assert tok.apply_chat_template(MSGS[1:2], tokenize=False, add_generation_prompt=True) == PROMPT[name]
    assert tok.eos_token == get_template(name).eos


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_assistant_mask_is_the_replies_and_their_end_tokens(tiny_dir, name):
    tok = load_tokenizer(tiny_dir, template=name)
    msgs = [{"role": "user", "content": "Sort 3 1 2"}, {"role": "assistant", "content": "1 2 3"},
            {"role": "user", "content": "Reverse cache"}, {"role": "assistant", "content": "ehcac"}]
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    eos = get_template(name).eos
    kept = [tok.decode([i]) for i, m in zip(ids, mask) if m]
    # token by token: exactly the two replies, each followed by the end-of-turn token
    assert "".join(kept) == f"1 2 3{eos}ehcac{eos}"
    assert kept.count(eos) == 2 and tok.convert_tokens_to_ids(eos) == tok.eos_token_id


def test_unknown_template_and_lmflow_conversion():
    with pytest.raises(FeedlearnError, match="unknown chat template 'vicuna'; known: chatml"):
        get_template("vicuna")
    conv = {"system": "S", "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
    assert to_messages(conv) == MSGS
