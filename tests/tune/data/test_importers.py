"""Importers: exact conversions of small hand-made records, bad records, and the shipped data."""

from __future__ import annotations

import json

import pytest

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import convert
from feedlearn.tune.data.importers import parse_hh_dialogue
from tests.tune.conftest import DATA


def write(path, records):
    path.write_text(json.dumps(records))
    return path


def test_alpaca_to_conversation_and_text2text(tmp_path):
    path = write(tmp_path / "a.json", [
        {"instruction": "Add", "input": "2 and 3", "output": "5"},
        {"instruction": "Say hi", "input": "", "output": "hi", "system": "be kind", "history": [["q0", "a0"]]},
    ])
    data = convert(path, "alpaca")
    assert data.type == "conversation"
    assert data.instances[0] == {"messages": [{"role": "user", "content": "Add\n\n2 and 3"},
                                              {"role": "assistant", "content": "5"}]}
    assert data.instances[1] == {"system": "be kind", "messages": [
        {"role": "user", "content": "q0"}, {"role": "assistant", "content": "a0"},
        {"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}]}
    t2t = convert(path, "alpaca", to="text2text")
    assert t2t.type == "text2text" and t2t.instances[0] == {"input": "Add\n\n2 and 3", "output": "5"}
    with pytest.raises(FeedlearnError, match="conversation or text2text"):
        convert(path, "alpaca", to="paired_conversation")


def test_alpaca_bad_records(tmp_path):
    path = write(tmp_path / "a.json", [{"instruction": "x", "output": "y"}, {"instruction": "x"},
                                       {"instruction": 3, "output": "y"}, {"instruction": "x", "output": ""}])
    with pytest.raises(FeedlearnError, match=r"a\.json: record 1: field output: missing"):
        convert(path, "alpaca")
    data = convert(path, "alpaca", skip_bad=True)
    assert len(data) == 1 and data.skipped == 3
    assert "record 2: field instruction: expected a string" in data.skipped_examples[1]
    assert "record 3: field messages.1.content: must not be empty" in data.skipped_examples[2]


def test_sharegpt_plain_and_paired(tmp_path):
    turns = [{"from": "system", "value": "sys"}, {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]
    plain = convert(write(tmp_path / "s.json", [{"conversations": turns, "id": "x"}]), "sharegpt")
    assert plain.type == "conversation"
    assert plain.instances == [{"system": "sys", "messages": [{"role": "user", "content": "q"},
                                                              {"role": "assistant", "content": "a"}], "id": "x"}]
    paired = convert(write(tmp_path / "p.json", [{"conversations": turns[1:2], "chosen": {"from": "gpt", "value": "good"},
                                                  "rejected": {"from": "gpt", "value": "bad"}}]), "sharegpt")
    assert paired.type == "paired_conversation"
    assert paired.instances[0]["chosen"]["messages"][-1] == {"role": "assistant", "content": "good"}
    assert paired.instances[0]["rejected"]["messages"][0] == {"role": "user", "content": "q"}
    with pytest.raises(FeedlearnError, match=r"record 0: field conversations.1.from: unknown role 'robot'"):
        convert(write(tmp_path / "b.json", [{"conversations": [turns[1], {"from": "robot", "value": "x"}]}]), "sharegpt")


def test_hh_dialogue_parsing():
    text = "\n\nHuman: what is 2+2?\n\nAssistant: 4\n\nHuman: thanks\n\nAssistant: You're welcome."
    assert parse_hh_dialogue(text) == [
        {"role": "user", "content": "what is 2+2?"}, {"role": "assistant", "content": "4"},
        {"role": "user", "content": "thanks"}, {"role": "assistant", "content": "You're welcome."}]


def test_text_documents(tmp_path):
    (tmp_path / "blank.txt").write_text("doc one\nstill one\n\n\ndoc two\n")
    assert [i["text"] for i in convert(tmp_path / "blank.txt", "text").instances] == ["doc one\nstill one", "doc two"]
    (tmp_path / "lines.txt").write_text("line a\nline b\n")
    assert len(convert(tmp_path / "lines.txt", "text")) == 2
    (tmp_path / "t.jsonl").write_text('{"text": "x"}\n{"text": 1}\n')
    with pytest.raises(FeedlearnError, match=r"t\.jsonl: line 2: field text: expected a string"):
        convert(tmp_path / "t.jsonl", "text")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(FeedlearnError, match="unknown source format 'csv'"):
        convert(tmp_path / "x", "csv")
    with pytest.raises(FeedlearnError, match="no such file"):
        convert(tmp_path / "x.json", "alpaca")


@pytest.mark.parametrize(
    ("name", "source", "dtype", "count", "skipped"),
    [
        ("alpaca_en_demo.json.gz", "alpaca", "conversation", 999, 0),
        ("dpo_en_demo.json.gz", "sharegpt", "paired_conversation", 300, 0),
        ("hh-rlhf-harmless-base-test.jsonl.gz", "hh", "paired_conversation", 2299, 13),
        ("c4_demo.jsonl.gz", "text", "text_only", 300, 0),
        ("wiki_demo.txt.gz", "text", "text_only", 30, 0),
    ],
)
def test_shipped_data_converts(name, source, dtype, count, skipped):
    data = convert(DATA / name, source, skip_bad=True)
    assert (data.type, len(data), data.skipped) == (dtype, count, skipped)
