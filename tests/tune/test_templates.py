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


def test_lora_trains_the_rows_of_tokens_a_template_adds(tiny_dir, tmp_path):
    """llama3's markers are new to the tiny (chatml) tokenizer: under LoRA exactly their embedding rows
    train (tied: the output rows too), so the model can learn to read them and to emit <|eot_id|>."""
    import torch

    from feedlearn.common.config import load_config
    from feedlearn.tune.data import TuneDataset, save_dataset
    from feedlearn.tune.models import load_model
    from feedlearn.tune.stages import STAGES, SFTConfig, run_stage
    from feedlearn.tune.trainer import prepare_model
    from tests.tune.conftest import sort_conversations

    data = save_dataset(TuneDataset("conversation", sort_conversations(8)), tmp_path / "chat.json")
    config = load_config(SFTConfig, None, {"model": str(tiny_dir), "data": str(data), "output_dir": str(tmp_path / "o"),
                                           "template": "llama3", "lora": True, "lora_r": 4, "max_steps": 2,
                                           "batch_size": 4, "lr": 1e-2, "save_steps": 100})
    tok = load_tokenizer(tiny_dir, template="llama3")
    base_size = len(load_tokenizer(tiny_dir))
    new = list(range(base_size, len(tok)))
    assert [tok.convert_ids_to_tokens(i) for i in new] == list(TEMPLATES["llama3"].special_tokens)
    start = prepare_model(config, tok).merge_and_unload().get_input_embeddings().weight.detach().clone()
    trained = load_model(run_stage(STAGES["sft"](), config)["model"]).get_input_embeddings().weight
    assert torch.equal(trained[:base_size], start[:base_size])  # the old rows stay frozen under LoRA
    assert all(not torch.equal(trained[i], start[i]) for i in new)  # <|eot_id|> among them


def test_a_model_without_a_chat_template_trains_on_conversations_with_ours(tiny_dir, tmp_path):
    from feedlearn.common.config import load_config
    from feedlearn.tune.data import TuneDataset, save_dataset
    from feedlearn.tune.models import load_model
    from feedlearn.tune.stages import STAGES, SFTConfig, run_stage
    from tests.tune.conftest import sort_conversations

    bare = tmp_path / "bare"
    tok = load_tokenizer(tiny_dir)
    tok.chat_template = None
    tok.save_pretrained(bare)
    load_model(tiny_dir).save_pretrained(bare)
    assert not load_tokenizer(bare).chat_template
    data = save_dataset(TuneDataset("conversation", sort_conversations(4)), tmp_path / "chat.json")
    config = load_config(SFTConfig, None, {"model": str(bare), "data": str(data), "output_dir": str(tmp_path / "o"),
                                           "max_steps": 1, "batch_size": 2, "save_steps": 100})
    final = run_stage(STAGES["sft"](), config)["model"]
    assert load_tokenizer(final).chat_template == get_template("chatml").jinja
