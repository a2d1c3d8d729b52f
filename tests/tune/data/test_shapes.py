"""The dataset shapes users already have (``shapes/``, written by hand after each format's spec): each one
imports exactly, reports what was kept, dropped and inferred, and trains one step of the stage it is for.

Round trips: import → save → ``tune data validate`` → one sft / reward / dpo step on the tiny model; and
the stages' own data rules (sft refuses prompt-only conversations, dpo pairs whose prompts differ).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from feedlearn.cli import main
from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import convert, load_dataset, save_dataset
from feedlearn.tune.features import IGNORE, generation_prompts, prompts_of, references, sft_features
from feedlearn.tune.models import load_tokenizer
from feedlearn.tune.stages import STAGES, DPOStageConfig, RewardConfig, SFTConfig, run_stage

SHAPES = Path(__file__).parent / "shapes"
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'


def options(tiny_dir, data, out, **kw):
    return {"model": str(tiny_dir), "data": str(data), "output_dir": str(out), "max_steps": 1, "batch_size": 4,
            "save_steps": 100, "logging_steps": 1, **kw}


def test_openai_messages_jsonl_keep_tool_calls_and_extra_fields():
    data = convert(SHAPES / "openai_chat.jsonl", "openai")
    assert data.type == "conversation" and [i["id"] for i in data.instances] == ["chat-1", "chat-2", "chat-3"]
    assert data.instances[0]["system"] == "You sort numbers."  # the leading system message, lifted
    call, result = data.instances[1]["messages"][1:3]
    assert call["role"] == "assistant" and call["content"] == CALL  # content null → the call as JSON
    assert call["tool_calls"][0]["id"] == "call_1" and result == {"role": "tool", "tool_call_id": "call_1",
                                                                  "content": "sunny, 21 C"}
    assert json.loads(data.instances[1]["tools"][0])["function"]["name"] == "get_weather"
    assert data.instances[2]["messages"][0] == {"role": "user", "content": "Sort 2 1"}  # content parts joined
    assert data.files[0].summary() == (
        f"{SHAPES / 'openai_chat.jsonl'}: kept 3; inferred: message field weight left out (1), leading system "
        "message → system field (1), tool_calls written into the content as JSON (1), tools written as JSON text (1), "
        "content parts joined (1)")


def test_openai_records_without_messages_name_the_field(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(FeedlearnError, match=r"x\.jsonl: line 1: field messages: missing"):
        convert(tmp_path / "x.jsonl", "openai")


def test_openai_json_list_with_legacy_function_calling():
    data = convert(SHAPES / "openai_chat.json", "openai")
    assert data.instances[0]["system"] == "Be brief."  # role developer is the system role
    assert [m["role"] for m in data.instances[1]["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert data.instances[1]["messages"][1]["content"] == CALL.replace("Paris", "Oslo")


def test_kto_labels_are_refused_unless_asked_for_as_sft_data():
    with pytest.raises(FeedlearnError, match=r"openai_kto\.jsonl: line 1: field label: a KTO-style label marks "
                                             r"unpaired preference data, which no stage trains on; pass --to conversation"):
        convert(SHAPES / "openai_kto.jsonl", "openai")
    data = convert(SHAPES / "openai_kto.jsonl", "openai", to="conversation")
    assert [i["label"] for i in data.instances] == [True]  # the label-false reply is not learnt from
    assert data.files[0].summary().endswith("kept 1; dropped 1 (label false (KTO: an undesirable reply) 1); "
                                            "inferred: label true kept as SFT data (1)")


def test_sharegpt_with_role_and_content_keeps_ids():
    data = convert(SHAPES / "sharegpt_role_content.json", "sharegpt")
    assert data.instances == [
        {"messages": [{"role": "user", "content": "Sort 8 6"}, {"role": "assistant", "content": "6 8"}],
         "system": "You sort numbers.", "id": "sg-1"},
        {"messages": [{"role": "user", "content": "Sort 2 0"}, {"role": "assistant", "content": "0 2"}], "id": "sg-2"}]


def test_lmflow_tool_roles_and_text_only_empty_documents():
    tools = load_dataset(SHAPES / "lmflow_tools.json")
    assert [m["role"] for m in tools.instances[0]["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert tools.instances[0]["conversation_id"] == "t-1" and tools.instances[1]["system"] == "You sort numbers."
    text = load_dataset(SHAPES / "lmflow_text_only.json")
    assert len(text) == 2 and text.files[0].dropped == {"empty text": 3}


def test_prompt_only_conversations_are_prompts():
    data = load_dataset(SHAPES / "prompts.jsonl")
    assert prompts_of(data) == generation_prompts(data) == [
        [{"role": "user", "content": "Sort 3 1 2"}],
        [{"role": "system", "content": "You sort numbers."}, {"role": "user", "content": "Sort 9 7"}],
        [{"role": "user", "content": "Sort 2 1"}, {"role": "assistant", "content": "1 2"},
         {"role": "user", "content": "And 5 4?"}]]
    with pytest.raises(FeedlearnError, match="instance 0 is prompt-only .* needs a reference reply"):
        references(data)


def test_conversation_shapes_round_trip_to_one_sft_step(tiny_dir, tmp_path, capsys):
    folder = tmp_path / "sft"
    folder.mkdir()
    for name, source, to in [("openai_chat.jsonl", "openai", ""), ("openai_chat.json", "openai", ""),
                             ("openai_kto.jsonl", "openai", "conversation"),
                             ("sharegpt_role_content.json", "sharegpt", "")]:
        args = ["tune", "data", "convert", str(SHAPES / name), str(folder / f"{name}.jsonl"), "--from", source]
        assert main(args + (["--to", to] if to else [])) == 0
    save_dataset(load_dataset(SHAPES / "lmflow_tools.json"), folder / "lmflow_tools.json")
    assert main(["tune", "data", "validate", str(folder)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "label false (KTO: an undesirable reply) 1" in out and f"{folder}: 10 valid conversation instances" in out
    assert f"{folder / 'openai_chat.json.jsonl'}: kept 2;" in out  # per file, as saved: nothing left to infer
    tokenizer = load_tokenizer(tiny_dir)
    rows, dropped = sft_features(load_dataset(folder), tokenizer, "assistant", 512)
    learnt = [tokenizer.decode([t for t in r["labels"] if t != IGNORE]) for r in rows]
    assert dropped == 0 and any(CALL in text for text in learnt)  # the tool call is a reply the model learns
    summary = run_stage(STAGES["sft"](), load_config(SFTConfig, None, options(tiny_dir, folder, tmp_path / "out")))
    assert (summary["steps"], summary["examples"]) == (1, 10) and math.isfinite(summary["train_loss"])


def test_sft_refuses_prompt_only_conversations_and_undesirable_replies_naming_the_row(tiny_dir, tmp_path):
    config = load_config(SFTConfig, None, options(tiny_dir, SHAPES / "prompts.jsonl", tmp_path / "out"))
    with pytest.raises(FeedlearnError, match=r"prompts\.jsonl: line 1: field messages\.0: a prompt-only conversation "
                                             r"\(it ends with the user\): sft learns from the assistant's replies"):
        run_stage(STAGES["sft"](), config)
    kto = tmp_path / "kto.jsonl"  # KTO data written as LMFlow conversations, not through the importer
    kto.write_text("".join(json.dumps({"messages": [{"role": "user", "content": "q"},
                                                    {"role": "assistant", "content": a}], "label": ok}) + "\n"
                           for a, ok in (("good", True), ("bad", False))))
    config = load_config(SFTConfig, None, options(tiny_dir, kto, tmp_path / "out2"))
    with pytest.raises(FeedlearnError, match=r"kto\.jsonl: line 2: field label: false marks an undesirable reply"):
        run_stage(STAGES["sft"](), config)


def test_pairs_whose_prompts_differ_train_a_reward_model_and_dpo_refuses_them(tiny_dir, tmp_path):
    differ = SHAPES / "lmflow_paired.json"
    summary = run_stage(STAGES["reward"](), load_config(RewardConfig, None, options(tiny_dir, differ, tmp_path / "rm")))
    assert (summary["steps"], summary["examples"]) == (1, 2)
    with pytest.raises(FeedlearnError, match=r"lmflow_paired\.json: instance 0: field rejected\.messages: dpo needs "
                                             "chosen and rejected to share the prompt .* reward modelling takes"):
        run_stage(STAGES["dpo"](), load_config(DPOStageConfig, None, options(tiny_dir, differ, tmp_path / "dpo")))


def test_trl_preference_pairs_round_trip_to_one_dpo_step(tiny_dir, tmp_path):
    pairs = save_dataset(convert(SHAPES / "openai_pairs.jsonl", "openai"), tmp_path / "pairs.jsonl")
    summary = run_stage(STAGES["dpo"](), load_config(DPOStageConfig, None, options(tiny_dir, pairs, tmp_path / "dpo")))
    first = json.loads((tmp_path / "dpo" / "log.jsonl").read_text().splitlines()[0])
    assert summary["steps"] == 1 and first["loss"] == pytest.approx(math.log(2), abs=1e-4)  # policy == reference
