"""generate / chat / eval commands over a tiny model: records, streaming, stop flags, metrics."""

from __future__ import annotations

import io
import json

import pytest

from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.chat import ChatSession
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.harness import run_lm_eval
from feedlearn.tune.infer import GenerationOptions, generate
from feedlearn.tune.models import load_model, load_tokenizer
from feedlearn.tune.tiny import TinyConfig, init_tiny
from feedlearn.tune.webchat import build_web_chat, respond_stream


def test_generate_is_deterministic_and_reports_stops(tiny_dir):
    model, tok = load_model(tiny_dir), load_tokenizer(tiny_dir)
    prompts = ["Sort 3 1 2", [{"role": "user", "content": "hello"}], "a b"]
    opts = GenerationOptions(max_new_tokens=6, batch_size=2)
    a, b = generate(model, tok, prompts, opts), generate(model, tok, prompts, opts)
    assert a == b and len(a) == 3
    assert all(1 <= c.tokens <= 6 and (c.stopped or c.tokens == 6) for c in a)
    sampled = generate(model, tok, prompts, GenerationOptions(max_new_tokens=6, temperature=1.0, seed=1))
    assert sampled == generate(model, tok, prompts, GenerationOptions(max_new_tokens=6, temperature=1.0, seed=1))


def test_generate_cli_writes_jsonl(tiny_dir, tmp_path, capsys):
    prompts = tmp_path / "p.txt"
    prompts.write_text("Sort 3 1 2\n\nhello there\n")
    out = tmp_path / "out.jsonl"
    assert main(["tune", "generate", str(tiny_dir), "--prompts", str(prompts), "--out", str(out),
                 "--max-new-tokens", "4"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in records] == ["Sort 3 1 2", "hello there"]
    assert all(set(r) == {"prompt", "completion", "stopped", "tokens"} for r in records)
    data = save_dataset(TuneDataset("text2text", [{"input": "sort: 1 2 =", "output": "1 2"}]), tmp_path / "d.json")
    assert main(["tune", "generate", str(tiny_dir), "--prompts", str(data), "--max-new-tokens", "2"]) == 0
    assert main(["tune", "generate", str(tiny_dir), "--prompts", str(tmp_path / "none.txt")]) == 2


def test_chat_session_keeps_history_and_streams(tiny_dir, monkeypatch, capsys):
    model, tok = load_model(tiny_dir), load_tokenizer(tiny_dir)
    session = ChatSession(model, tok, system="be brief", options=GenerationOptions(max_new_tokens=5))
    pieces = []
    reply = session.send("hello", on_text=pieces.append)
    assert "".join(pieces).strip() == reply
    session.send("again")
    assert [m["role"] for m in session.messages()] == ["system", "user", "assistant", "user", "assistant"]
    session.reset()
    assert session.history == []
    monkeypatch.setattr("sys.stdin", io.StringIO("hi\n/reset\nhow are you\n/exit\n"))
    assert main(["tune", "chat", str(tiny_dir), "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.count("model> ") == 2


def test_eval_cli(tiny_dir, tmp_path, capsys):
    text = save_dataset(TuneDataset("text_only", [{"text": "the quick brown fox " * 20}]), tmp_path / "t.json")
    out = tmp_path / "m.json"
    assert main(["tune", "eval", str(tiny_dir), "--data", str(text), "--block-size", "16", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["perplexity"] > 1
    conv = save_dataset(TuneDataset("conversation", [{"messages": [{"role": "user", "content": "hi"},
                                                                   {"role": "assistant", "content": "hello"}]}]),
                        tmp_path / "c.json")
    assert main(["tune", "eval", str(tiny_dir), "--data", str(conv), "--max-new-tokens", "3"]) == 0
    assert "exact_match 0" in capsys.readouterr().out
    pairs = save_dataset(TuneDataset("paired_text_to_text", [{"prompt": "q", "chosen": "a", "rejected": "b"}]),
                         tmp_path / "p.json")
    assert main(["tune", "eval", str(tiny_dir), "--data", str(pairs)]) == 2


@pytest.mark.parametrize("template", ["llama3", "zephyr"])
def test_other_templates_work_end_to_end(tiny_dir, template, tmp_path):
    assert main(["tune", "generate", str(tiny_dir), "--prompts", str(_prompt(tmp_path)), "--template", template,
                 "--max-new-tokens", "2"]) == 0


def _prompt(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("hello\n")
    return path


def test_speculative_decoding_keeps_greedy_output(tiny_dir, tmp_path):
    from tests.tune.conftest import CORPUS

    model, tok = load_model(tiny_dir), load_tokenizer(tiny_dir)
    draft_dir = init_tiny(tmp_path / "draft", TinyConfig(vocab_size=320, hidden_size=16, layers=1, heads=2,
                                                         intermediate_size=32, max_positions=256, seed=9),
                          texts=iter(CORPUS))
    prompts = ["Sort 3 1 2", [{"role": "user", "content": "hello"}]]
    plain = generate(model, tok, prompts, GenerationOptions(max_new_tokens=8))
    assisted = generate(model, tok, prompts, GenerationOptions(max_new_tokens=8, draft=load_model(draft_dir)))
    assert [c.text for c in assisted] == [c.text for c in plain]
    assert main(["tune", "generate", str(tiny_dir), "--prompts", str(_prompt(tmp_path)), "--draft-model",
                 str(draft_dir), "--max-new-tokens", "3"]) == 0


def test_streamed_text_is_the_completion(tiny_dir, tmp_path, capsys):
    model, tok = load_model(tiny_dir), load_tokenizer(tiny_dir)
    pieces: list[str] = []
    (streamed,) = generate(model, tok, ["Sort 3 1 2"], GenerationOptions(max_new_tokens=6, on_text=pieces.append))
    (plain,) = generate(model, tok, ["Sort 3 1 2"], GenerationOptions(max_new_tokens=6))
    assert streamed == plain and "".join(pieces).strip() == plain.text.strip()
    assert main(["tune", "generate", str(tiny_dir), "--prompts", str(_prompt(tmp_path)), "--stream",
                 "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.startswith("hello -> ")


def test_lm_eval_adapter_on_a_local_task(tiny_dir, tmp_path, monkeypatch, capsys):
    pytest.importorskip("lm_eval")  # in the test extras; the adapter's own error is tested below
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = [{"q": f"Sort {a} {b}:", "choices": [f" {min(a, b)} {max(a, b)}", f" {max(a, b)} {min(a, b)}"], "answer": 0}
            for a in range(3) for b in range(3) if a != b]
    (tmp_path / "sort.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "sortmc.yaml").write_text(
        "task: feedlearn_sortmc\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {tmp_path / 'sort.jsonl'}\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: '{{q}}'\ndoc_to_choice: '{{choices}}'\n"
        "doc_to_target: '{{answer}}'\nmetric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n")

    scores = run_lm_eval(str(tiny_dir), ["feedlearn_sortmc"], include=str(tmp_path / "tasks"), batch_size=2)
    acc = scores["feedlearn_sortmc"]["acc"]
    assert acc * 6 == pytest.approx(round(acc * 6))  # a fraction of the 6 questions
    out = tmp_path / "lm.json"
    assert main(["tune", "eval", str(tiny_dir), "--lm-eval", "feedlearn_sortmc", "--lm-eval-include",
                 str(tmp_path / "tasks"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["lm_eval"]["feedlearn_sortmc"]["acc"] == acc
    with pytest.raises(Exception, match="unknown task 'no_such_task'"):
        run_lm_eval(str(tiny_dir), ["no_such_task"], include=str(tmp_path / "tasks"))
    assert main(["tune", "eval", str(tiny_dir)]) == 2
    assert "give --data FILE or --lm-eval TASKS" in capsys.readouterr().err


def test_lm_eval_missing_gives_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_lm_eval(name, *args, **kwargs):
        if name.startswith("lm_eval"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lm_eval)
    with pytest.raises(FeedlearnError, match=r"pip install 'feedlearn\[eval\]'"):
        run_lm_eval("m", ["t"])


def test_web_chat_streams_replies_in_the_page_history(tiny_dir):
    pytest.importorskip("gradio")  # in the test extras

    model, tok = load_model(tiny_dir), load_tokenizer(tiny_dir)
    opts = GenerationOptions(max_new_tokens=5)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "text", "text": "hello"}]}]
    partial = list(respond_stream(model, tok, None, opts, "again", history))
    session = ChatSession(model, tok, options=opts, history=[{"role": "user", "content": "hi"},
                                                            {"role": "assistant", "content": "hello"}])
    assert partial and partial[-1].strip() == session.send("again")  # same reply as the terminal chat
    assert all(b.startswith(a) for a, b in zip(partial, partial[1:]))  # it only grows
    app = build_web_chat(model, tok, options=opts)
    assert type(app).__name__ == "ChatInterface"
