"""Reading and writing LMFlow datasets: layouts, round trips and every bad-file case."""

from __future__ import annotations

import gzip
import json

import pytest

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import TuneDataset, load_dataset, save_dataset

CONV = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def write_json(path, doc):
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("name", ["d.json", "d.jsonl", "d.json.gz", "d.jsonl.gz"])
def test_round_trip(tmp_path, name):
    data = TuneDataset("conversation", [CONV, {**CONV, "system": "s", "id": 7}])
    path = save_dataset(data, tmp_path / name)
    back = load_dataset(path)
    assert (back.type, back.instances) == ("conversation", data.instances)
    if name.endswith(".gz"):
        assert gzip.decompress(path.read_bytes())  # really compressed


def test_jsonl_type_is_inferred_or_given(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n')
    assert load_dataset(path).type == "text_only"
    save_dataset(TuneDataset("text2text", [{"input": "", "output": "x"}]), tmp_path / "h.jsonl")
    assert load_dataset(tmp_path / "h.jsonl").type == "text2text"  # from the header line
    with pytest.raises(FeedlearnError, match="field type: 'text2text', but 'text_only' was expected"):
        load_dataset(tmp_path / "h.jsonl", type="text_only")
    path.write_text('{"foo": 1}\n')
    with pytest.raises(FeedlearnError, match="cannot tell the dataset type"):
        load_dataset(path)


def test_folder_of_files_of_one_type(tmp_path):
    write_json(tmp_path / "a.json", {"type": "text_only", "instances": [{"text": "a"}]})
    (tmp_path / "b.jsonl").write_text('{"text": "b"}\n')
    (tmp_path / "notes.md").write_text("ignored")
    assert [i["text"] for i in load_dataset(tmp_path).instances] == ["a", "b"]
    write_json(tmp_path / "c.json", {"type": "text2text", "instances": [{"input": "", "output": "x"}]})
    with pytest.raises(FeedlearnError, match=r"c\.json: field type: 'text2text', but 'text_only' was expected"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"type": "text_only", "instances": [', r"bad\.json:1:\d+: invalid JSON"),
        ('[{"instruction": "x"}]', r"a JSON list, not an LMFlow dataset .* --from alpaca\|sharegpt"),
        ('{"instances": []}', "expected an object with fields type and instances"),
        ('{"type": "chat", "instances": []}', r"field type: 'chat' is not one of text_only"),
        ('{"type": "text_only", "instances": {}}', "field instances: must be a list"),
        ('{"type": "text_only", "instances": [{"text": "a"}, {"txt": "b"}]}',
         r"bad\.json: instance 1: field text: Field required \(pass --skip-bad"),
        ('{"type": "text_only", "instances": []}', "no valid instances"),
    ],
)
def test_bad_files_name_file_row_and_field(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(FeedlearnError, match=message):
        load_dataset(path)


def test_bad_jsonl_line_and_skip_bad(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a"}\n{"text": 4}\n{"text": 5}\n{"text": "d"}\n')
    with pytest.raises(FeedlearnError, match=r"bad\.jsonl: line 2: field text: Input should be a valid string"):
        load_dataset(path)
    data = load_dataset(path, skip_bad=True)
    assert [i["text"] for i in data.instances] == ["a", "d"] and data.skipped == 2
    assert data.skipped_examples[1].endswith("line 3: field text: Input should be a valid string")
    path.write_text('{"text": "a"}\n{"text": \n')
    with pytest.raises(FeedlearnError, match=r"bad\.jsonl:2:\d+: invalid JSON"):
        load_dataset(path)


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(FeedlearnError, match="no such file or folder"):
        load_dataset(tmp_path / "nope.json")
    with pytest.raises(FeedlearnError, match="has no .json or .jsonl files"):
        load_dataset(tmp_path)
    with pytest.raises(FeedlearnError, match="is not one of"):
        load_dataset(tmp_path, type="chat")


def test_empty_texts_are_dropped_counted_and_warned(tmp_path, caplog):
    """LMFlow's wikitext has "" documents (a third of them); LMFlow skips them, so do we — counted, not silent."""
    path = tmp_path / "wiki.jsonl"
    path.write_text('{"type": "text_only"}\n{"text": "a"}\n{"text": ""}\n{"text": " \\n"}\n{"text": "d"}\n')
    data = load_dataset(path)
    assert [i["text"] for i in data.instances] == ["a", "d"] and data.skipped == 0
    assert data.files[0].summary() == f"{path}: kept 2; dropped 2 (empty text 2)"
    assert f"{path}: dropped 2 rows (empty text 2), kept 2" in caplog.text
    path.write_text('{"text": ""}\n')
    with pytest.raises(FeedlearnError, match=r"wiki\.jsonl: no valid instances \(1 rows dropped\)"):
        load_dataset(path)


def test_report_names_what_was_inferred(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                                             {"role": "function", "content": '{"name": "f"}'},
                                             {"role": "observation", "content": "42"},
                                             {"role": "assistant", "content": "It is 42."}]}) + "\n")
    data = load_dataset(path)
    assert data.instances == [{"system": "s", "messages": [
        {"role": "user", "content": "q"}, {"role": "assistant", "content": '{"name": "f"}'},
        {"role": "tool", "content": "42"}, {"role": "assistant", "content": "It is 42."}]}]
    assert data.files[0].summary() == (f"{path}: kept 1; inferred: type conversation from the first line's keys (1), "
                                       "role function → assistant (1), role observation → tool (1), "
                                       "leading system message → system field (1)")
