"""Validation reports: exact counts and lengths on a tiny dataset, token counts with a tokenizer."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from feedlearn.cli import main
from feedlearn.tune.data import TuneDataset, describe, save_dataset


@pytest.fixture()
def word_tokenizer(tmp_path):
    """Whitespace words from a fixed vocabulary: the token count of a text is its word count."""
    vocab = {w: i for i, w in enumerate(["[UNK]", "hi", "hello", "there", "how", "are", "you", "fine"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    fast.save_pretrained(tmp_path / "tok")
    return fast, tmp_path / "tok"


def conv(*pairs):
    return {"messages": [{"role": r, "content": c} for r, c in pairs]}


def test_lengths_and_tokens(word_tokenizer):
    tokenizer, _ = word_tokenizer
    data = TuneDataset("conversation", [conv(("user", "hi"), ("assistant", "hello there")),
                                        {**conv(("user", "how are you"), ("assistant", "fine")), "id": 1}])
    report = describe(data, tokenizer)
    assert report.instances == 2 and report.unknown_fields == {"id": 1}
    assert report.chars["user"].count == 2 and report.chars["user"].max == len("how are you")
    assert report.chars["assistant"].mean == pytest.approx((len("hello there") + len("fine")) / 2)
    # no chat template: contents joined by newlines -> 3 words and 4 words
    assert report.tokens.max == 4 and report.total_tokens == 7
    assert describe(data).tokens is None


def test_validate_cli(tmp_path, word_tokenizer, capsys):
    _, tok_dir = word_tokenizer
    path = save_dataset(TuneDataset("text_only", [{"text": "hi there"}, {"text": "fine"}]), tmp_path / "d.jsonl")
    assert main(["tune", "data", "validate", str(path), "--tokenizer", str(tok_dir)]) == 0
    out = capsys.readouterr().out
    assert "2 valid text_only instances" in out and "total 3" in out
    path.write_text('{"text": "a"}\n{"text": 2}\n{"text": ""}\n')
    assert main(["tune", "data", "validate", str(path)]) == 2
    assert "d.jsonl: line 2: field text: Input should be a valid string" in capsys.readouterr().err
    assert main(["tune", "data", "validate", str(path), "--skip-bad"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines at 150 columns
    assert "1 bad rows dropped" in out
    assert (f"{path}: kept 1; dropped 2 (bad rows (--skip-bad) 1, empty text 1); inferred: type text_only from "
            "the first line's keys (1)") in out
    assert main(["tune", "data", "validate", str(path), "--tokenizer", str(tmp_path / "none")]) == 2


def test_convert_cli(tmp_path, capsys):
    src = tmp_path / "a.json"
    src.write_text('[{"instruction": "Say hi", "output": "hi"}]')
    assert main(["tune", "data", "convert", str(src), str(tmp_path / "out.json"), "--from", "alpaca"]) == 0
    assert "1 conversation instances" in capsys.readouterr().out
    assert main(["tune", "data", "validate", str(tmp_path / "out.json"), "--type", "conversation"]) == 0
