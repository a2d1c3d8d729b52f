"""Issue 14, tune part B: bad recipes, options, data files and model paths are one-line errors.

Each test feeds one bad input through the public API and, where the issue names a command, through
``feedlearn.cli.main``: exit code 2, one line on stderr naming the file/field, no traceback, and
nothing written or deleted that was not ours. Nothing here trains a model.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

import feedlearn.tune.chat as chat
import feedlearn.tune.infer as infer
from feedlearn.cli import main
from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.runlock import exclusive
from feedlearn.shipped import folder
from feedlearn.tune.cli import recipe_table
from feedlearn.tune.data import TuneDataset, load_dataset, save_dataset
from feedlearn.tune.data import io as data_io
from feedlearn.tune.features import references
from feedlearn.tune.harness import run_lm_eval
from feedlearn.tune.infer import MAX_NEW_TOKENS, Completion, GenerationOptions
from feedlearn.tune.models import load_model, load_tokenizer, model_source
from feedlearn.tune.recipe import Recipe, _finished, check_recipe, prepare, run_recipe
from feedlearn.tune.stages import STAGES
from feedlearn.tune.tiny import MARKER, TinyConfig, init_tiny

TINY = {"vocab_size": 300, "hidden_size": 16, "layers": 1, "heads": 2, "intermediate_size": 32, "max_positions": 64}


def one_line_error(capsys, *parts: str) -> str:
    """The CLI's stderr: exactly one ``error:`` line holding every part, no traceback."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err
    for part in parts:
        assert part in err, (part, err)
    return err


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def recipe_file(tmp_path: Path, **changes) -> Path:
    """A valid 3-stage recipe on an init_tiny base (nothing in it needs a model to be checked)."""
    recipe = {
        "name": "t", "output_dir": str(tmp_path / "run"), "base": {"init_tiny": TINY},
        "prepare": [{"out": "tr.json", "synthetic": {"n": 8, "format": "text2text", "seed": 1}},
                    {"out": "pairs.json", "synthetic_preferences": {"n": 8, "seed": 2}}],
        "evals": [{"name": "task", "kind": "generation", "data": "tr.json"}],
        "stages": [{"name": "a", "stage": "sft", "options": {"data": "tr.json", "max_steps": 2}},
                   {"name": "rm", "stage": "reward", "options": {"data": "pairs.json", "max_steps": 2}},
                   {"name": "c", "stage": "dpo", "from": "a", "options": {"data": "pairs.json", "max_steps": 2}}],
        **changes,
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def with_stage(tmp_path: Path, index: int, **stage_changes) -> Path:
    stages = yaml.safe_load(recipe_file(tmp_path).read_text())["stages"]
    stages[index] = {**stages[index], **stage_changes}
    return recipe_file(tmp_path, stages=stages)


# 1. Paths from recipes stay inside OUTPUT_DIR -------------------------------------------------------------


@pytest.mark.parametrize("out", ["../../../x.json", "ABSOLUTE", "sub/../../x.json", ""])
def test_prepare_output_outside_the_data_folder_is_refused(tmp_path, capsys, out):
    escape = tmp_path / "escape.json"
    path = recipe_file(tmp_path, prepare=[{"out": str(escape) if out == "ABSOLUTE" else out, "synthetic": {"n": 2}}])
    with pytest.raises(FeedlearnError, match=r"r\.yaml: prepare\.0\.out: .*inside OUTPUT_DIR/data"):
        run_recipe(path, log=lambda row: None)
    assert main(["tune", "run", str(path)]) == 2
    one_line_error(capsys, "r.yaml", "prepare.0.out", "inside OUTPUT_DIR/data")
    assert files_under(tmp_path) == ["r.yaml"]  # nothing written, here (escape.json included)
    assert not (tmp_path.parent / "x.json").exists()


def test_prepare_refuses_a_symlink_out_of_the_data_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    (data / "sub").symlink_to(outside)
    recipe = Recipe.model_validate(yaml.safe_load(recipe_file(tmp_path).read_text())
                                   | {"prepare": [{"out": "sub/x.json", "synthetic": {"n": 2}}]})
    with pytest.raises(FeedlearnError, match=r"prepare sub/x\.json: resolves to .*outside"):
        prepare(recipe, data)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/b", "data", "base", ""])
def test_stage_names_are_plain_folder_names(tmp_path, capsys, name):
    path = with_stage(tmp_path, 2, name=name)
    assert main(["tune", "run", str(path)]) == 2
    one_line_error(capsys, "r.yaml", "stages.2.name", "a stage name is its folder under OUTPUT_DIR")
    assert files_under(tmp_path) == ["r.yaml"]


@pytest.mark.parametrize("key", ["output_dir", "model"])
def test_stage_options_cannot_redirect_output_or_model(tmp_path, key):
    path = with_stage(tmp_path, 1, options={"data": "pairs.json", key: str(tmp_path / "elsewhere")})
    with pytest.raises(FeedlearnError, match=rf"r\.yaml: stage rm: option {key}: set by the recipe"):
        run_recipe(path, log=lambda row: None)


# 2. lm-eval's model_args cannot be injected ---------------------------------------------------------------


@pytest.fixture
def fake_lm_eval(monkeypatch):
    """lm_eval replaced by a stub that records what simple_evaluate was given."""
    calls: list[dict] = []
    module = types.ModuleType("lm_eval")
    tasks = types.ModuleType("lm_eval.tasks")

    class TaskManager:
        all_tasks = ["t"]

        def __init__(self, include_path=None):
            pass

    def simple_evaluate(**kwargs):
        calls.append(kwargs)
        return {"results": {"t": {"acc,none": 0.5}}}

    tasks.TaskManager = TaskManager
    module.tasks, module.simple_evaluate = tasks, simple_evaluate
    monkeypatch.setitem(sys.modules, "lm_eval", module)
    monkeypatch.setitem(sys.modules, "lm_eval.tasks", tasks)
    return calls


def test_lm_eval_model_name_cannot_inject_arguments(tmp_path, capsys, fake_lm_eval):
    with pytest.raises(FeedlearnError, match="not a hub id"):
        run_lm_eval("gpt2,trust_remote_code=True", ["t"])
    assert main(["tune", "eval", "x,trust_remote_code=True,parallelize=True", "--lm-eval", "t"]) == 2
    one_line_error(capsys, "x,trust_remote_code=True,parallelize=True: no such model directory, and not a hub id")
    assert fake_lm_eval == []  # refused before the harness saw it
    # a real directory whose name looks like arguments is passed whole, as one value of a dict
    odd = tmp_path / "m,trust_remote_code=True"
    odd.mkdir()
    assert run_lm_eval(str(odd), ["t"], limit=2) == {"t": {"acc": 0.5}}
    (call,) = fake_lm_eval
    assert call["model_args"] == {"pretrained": str(odd)}
    assert "trust_remote_code" not in call


@pytest.mark.parametrize("option", [["--limit", "0"], ["--limit=-3"]])
def test_lm_eval_limit_must_be_positive(capsys, fake_lm_eval, option):
    assert main(["tune", "eval", "org/model", "--lm-eval", "t", *option]) == 2
    one_line_error(capsys, "limit (--limit) must be a whole number >= 1")
    assert fake_lm_eval == []


# 3. init_tiny never deletes a folder it did not write -----------------------------------------------------


def test_recipe_refuses_a_base_folder_of_user_files(tmp_path, capsys):
    base = tmp_path / "run" / "base"
    base.mkdir(parents=True)
    (base / "notes.txt").write_text("my notes")
    path = recipe_file(tmp_path)
    assert main(["tune", "run", str(path)]) == 2
    one_line_error(capsys, "r.yaml: base.init_tiny:", str(base), "is not a model")
    assert (base / "notes.txt").read_text() == "my notes"
    assert files_under(tmp_path / "run") == ["base", "base/notes.txt"]  # no data prepared either


def test_init_tiny_overwrite_replaces_only_its_own_model(tmp_path, capsys):
    from tests.tune.conftest import CORPUS

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("{}")  # looks like a model, but init_tiny did not write it
    (mine / "weights.bin").write_bytes(b"precious")
    with pytest.raises(FeedlearnError, match="not a tiny model made by init-tiny; refusing to replace it"):
        init_tiny(mine, TinyConfig(**TINY), overwrite=True, texts=iter(CORPUS))
    assert main(["tune", "init-tiny", str(mine), "--overwrite"]) == 2
    one_line_error(capsys, str(mine), "refusing to replace it")
    assert files_under(mine) == ["config.json", "weights.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no temp dir left behind
    # an empty folder is filled; an earlier tiny model is replaced with --overwrite only
    empty = tmp_path / "empty"
    empty.mkdir()
    init_tiny(empty, TinyConfig(**TINY), texts=iter(CORPUS))
    assert (empty / MARKER).is_file()
    with pytest.raises(FeedlearnError, match="exists and is not empty"):
        init_tiny(empty, TinyConfig(**{**TINY, "seed": 1}), texts=iter(CORPUS))
    init_tiny(empty, TinyConfig(**{**TINY, "seed": 1}), overwrite=True, texts=iter(CORPUS))
    assert json.loads((empty / MARKER).read_text())["seed"] == 1
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(FeedlearnError, match="exists and is not a directory"):
        init_tiny(a_file, TinyConfig(**TINY), texts=iter(CORPUS))
    assert a_file.read_text() == "x"


# 4. Generation options are checked, in the one options class every caller builds ------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": -1.0}, "temperature (--temperature): must be a finite number >= 0"),
        ({"temperature": float("nan")}, "temperature (--temperature): must be a finite number >= 0"),
        ({"temperature": float("inf")}, "temperature (--temperature): must be a finite number >= 0"),
        ({"top_p": 0.0}, "top_p (--top-p): must be a number in (0, 1]"),
        ({"top_p": 1.5}, "top_p (--top-p): must be a number in (0, 1]"),
        ({"max_new_tokens": -4}, "max_new_tokens (--max-new-tokens): must be a whole number from 1 to 65,536"),
        ({"max_new_tokens": 0}, "max_new_tokens (--max-new-tokens): must be a whole number from 1"),
        ({"max_new_tokens": MAX_NEW_TOKENS + 1}, "max_new_tokens (--max-new-tokens)"),
        ({"max_new_tokens": 2.5}, "max_new_tokens (--max-new-tokens)"),
        ({"batch_size": 0}, "batch_size (--batch-size): must be a whole number from 1"),
        ({"seed": -1}, "seed (--seed): must be a whole number from 0"),
    ],
)
def test_generation_options_are_checked(changes, message):
    with pytest.raises(FeedlearnError) as caught:
        GenerationOptions(**changes)
    assert str(caught.value).startswith(f"generation option {message}")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--temperature=-1", "temperature (--temperature): must be a finite number >= 0 (0: greedy), got -1.0"),
        ("--temperature=nan", "temperature (--temperature)"),
        ("--max-new-tokens=-4", "max_new_tokens (--max-new-tokens): must be a whole number from 1 to 65,536, got -4"),
        ("--top-p=0", "top_p (--top-p)"),
        ("--batch-size=0", "batch_size (--batch-size)"),
        ("--seed=-1", "seed (--seed)"),
    ],
)
def test_generate_cli_rejects_bad_options_before_loading(tmp_path, capsys, option, message):
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n")
    started = time.perf_counter()
    # the model does not exist: the option error comes first, without touching it
    assert main(["tune", "generate", "./no-such-model", "--prompts", str(prompts), option]) == 2
    assert time.perf_counter() - started < 5
    one_line_error(capsys, message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tune", "chat", "./m", "--temperature=-0.5"], "temperature (--temperature)"),
        (["tune", "chat", "./m", "--max-new-tokens=0"], "max_new_tokens (--max-new-tokens)"),
        (["tune", "chat", "./m", "--web", "--port=70000"], "--port must be from 1 to 65535"),
        (["tune", "eval", "./m", "--data", "DATA", "--max-new-tokens=-1"], "max_new_tokens (--max-new-tokens)"),
        (["tune", "eval", "./m", "--data", "DATA", "--block-size=1"], "block_size (--block-size)"),
        (["tune", "eval", "./m", "--data", "DATA", "--baseline", "x"], "--baseline and --reference go with"),
        (["tune", "score", "./m", "--data", "DATA", "--batch-size=0"], "batch_size (--batch-size)"),
        (["tune", "score", "./m", "--data", "DATA", "--max-length=-1"], "max_length (--max-length)"),
    ],
)
def test_other_commands_check_their_options_first(tmp_path, capsys, argv, message):
    data = save_dataset(TuneDataset("conversation", [{"messages": [{"role": "user", "content": "q"},
                                                                   {"role": "assistant", "content": "a"}]}]),
                        tmp_path / "d.json")
    assert main([str(data) if a == "DATA" else a for a in argv]) == 2
    one_line_error(capsys, message)


def test_eval_rejects_prompts_of_the_wrong_type(tmp_path, capsys):
    text = save_dataset(TuneDataset("text_only", [{"text": "hello"}]), tmp_path / "t.json")
    with pytest.raises(FeedlearnError, match=r"t\.json: prompts come from text2text or conversation data, not "
                                             "text_only"):
        references(load_dataset(text))
    assert main(["tune", "generate", "./m", "--prompts", str(text)]) == 2
    one_line_error(capsys, "t.json: prompts come from text2text or conversation data")
    assert main(["tune", "eval", "./m", "--data", str(text), "--reward-model", "./rm"]) == 2
    one_line_error(capsys, "--reward-model judges replies to text2text or conversation prompts, not text_only")


# 5. Data files that cannot be read ------------------------------------------------------------------------

GOOD = json.dumps({"type": "text_only", "instances": [{"text": "a" * 500}]}).encode()


def corrupt_gzips() -> dict[str, bytes]:
    whole = gzip.compress(GOOD, mtime=0)
    return {"bad-deflate.json.gz": whole[:10] + b"\xff" * 20,  # zlib.error
            "truncated.json.gz": whole[: len(whole) // 2],  # EOFError
            "not-gzip.json.gz": b"plain text",  # BadGzipFile
            "bad-crc.jsonl.gz": whole[:-8] + b"\0" * 8}


@pytest.mark.parametrize("name", list(corrupt_gzips()))
def test_corrupt_gzip_is_a_one_line_error(tmp_path, capsys, name):
    path = tmp_path / name
    path.write_bytes(corrupt_gzips()[name])
    with pytest.raises(FeedlearnError, match=rf"{name}: corrupt or truncated gzip data"):
        load_dataset(path)
    assert main(["tune", "data", "validate", str(path)]) == 2
    one_line_error(capsys, f"{path}: corrupt or truncated gzip data")
    assert main(["tune", "data", "convert", str(path), str(tmp_path / "o.json"), "--from", "alpaca"]) == 2
    one_line_error(capsys, f"{path}: corrupt or truncated gzip data")
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("name", ["deep.json", "deep.jsonl", "deep.json.gz"])
def test_deeply_nested_json_is_a_one_line_error(tmp_path, capsys, name):
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(deep) if name.endswith(".gz") else deep)
    where = f"{name}:1: " if name.endswith(".jsonl") else f"{name}: "
    with pytest.raises(FeedlearnError, match=rf"{where}invalid JSON: nested too deeply"):
        load_dataset(path)
    assert main(["tune", "data", "validate", str(path)]) == 2
    one_line_error(capsys, "invalid JSON: nested too deeply")


def test_non_utf8_files_name_the_file_and_line(tmp_path, capsys):
    doc = tmp_path / "latin1.json"
    doc.write_bytes(b'{"type": "text_only",\n "instances": [{"text": "caf\xe9"}]}')
    with pytest.raises(FeedlearnError, match=r"latin1\.json:2: not UTF-8 text \(byte 0xe9\)"):
        load_dataset(doc)
    lines = tmp_path / "latin1.jsonl"
    lines.write_bytes(b'{"text": "ok"}\n{"text": "ok"}\n{"text": "na\xefve"}\n')
    with pytest.raises(FeedlearnError, match=r"latin1\.jsonl:3: not UTF-8 text"):
        load_dataset(lines)
    assert main(["tune", "data", "convert", str(lines), str(tmp_path / "o.json"), "--from", "text"]) == 2
    one_line_error(capsys, "latin1.jsonl:3: not UTF-8 text")
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes(b"hello\n\x80\x81 bad\n")
    assert main(["tune", "generate", "./no-such-model", "--prompts", str(prompts)]) == 2
    one_line_error(capsys, "prompts.txt:2: not UTF-8 text (byte 0x80)")
    text = tmp_path / "doc.txt"
    text.write_bytes(b"para one\n\npara \xff two\n")
    assert main(["tune", "data", "convert", str(text), str(tmp_path / "o.json"), "--from", "text"]) == 2
    one_line_error(capsys, "doc.txt:3: not UTF-8 text (byte 0xff)")
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize(
    ("dtype", "instance", "field"),
    [
        ("paired_text_to_text", '{"prompt": "p", "chosen": "a", "rejected": "b", "margin": NaN}', "field margin"),
        ("paired_text_to_text", '{"prompt": "p", "chosen": "a", "rejected": "b", "margin": 1e999}', "field margin"),
        ("text_to_scored_textlist", '{"input": "q", "output": [{"score": Infinity, "text": "t"}]}',
         "field output.0.score"),
        ("text_to_scored_textlist", '{"input": "q", "output": [{"score": -Infinity, "text": "t"}]}',
         "field output.0.score"),
    ],
)
def test_nan_and_inf_numbers_in_data_are_refused(tmp_path, capsys, dtype, instance, field):
    path = tmp_path / "d.json"
    path.write_text(f'{{"type": "{dtype}", "instances": [{instance}]}}')
    with pytest.raises(FeedlearnError, match=rf"d\.json: instance 0: {field}: Input should be a finite number"):
        load_dataset(path)
    assert main(["tune", "data", "validate", str(path)]) == 2
    one_line_error(capsys, f"instance 0: {field}: Input should be a finite number")


def test_files_over_the_size_limit_are_not_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(data_io, "MAX_FILE_BYTES", 1000)
    monkeypatch.setattr(data_io, "MAX_LINE_BYTES", 100)
    big = tmp_path / "big.json.gz"  # a small gzip that inflates past the limit: stopped while reading
    big.write_bytes(gzip.compress(json.dumps({"type": "text_only", "instances": [{"text": "a" * 5000}]}).encode()))
    assert big.stat().st_size < 1000
    with pytest.raises(FeedlearnError, match=r"big\.json\.gz: the file is larger than"):
        load_dataset(big)
    long_line = tmp_path / "long.jsonl"
    long_line.write_text('{"text": "ok"}\n' + json.dumps({"text": "b" * 200}) + "\n")
    with pytest.raises(FeedlearnError, match=r"long\.jsonl: line 2 is larger than"):
        load_dataset(long_line)
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps({"text": "c" * 50}) + "\n" for _ in range(30)))
    with pytest.raises(FeedlearnError, match=r"many\.jsonl: the file is larger than"):
        load_dataset(many)


# 6. The whole recipe is checked before anything runs ------------------------------------------------------


def test_a_typo_in_the_third_stage_fails_at_once_with_nothing_written(tmp_path, capsys):
    path = with_stage(tmp_path, 2, options={"data": "pairs.json", "max_step": 2})
    started = time.perf_counter()
    with pytest.raises(FeedlearnError) as caught:
        run_recipe(path, log=lambda row: None)
    assert time.perf_counter() - started < 0.5
    assert str(caught.value) == f"{path}: stage c: option max_step: unknown option; did you mean 'max_steps'?"
    assert files_under(tmp_path) == ["r.yaml"]  # nothing prepared, made or trained
    assert main(["tune", "run", str(path)]) == 2
    one_line_error(capsys, "r.yaml: stage c: option max_step: unknown option; did you mean 'max_steps'?")


@pytest.mark.parametrize(
    ("index", "changes", "message"),
    [
        (2, {"stage": "dpoo"}, "stage c: unknown stage 'dpoo'; known: pretrain, sft, "),
        (2, {"stage": "dpoo"}, "did you mean 'dpo'?"),
        (1, {"from": "c"}, "stage rm: from 'c' is not an earlier stage (it comes later)"),
        (0, {"from": "a"}, "stage a: from 'a' is not an earlier stage (a stage cannot start from itself)"),
        (2, {"from": "aa"}, "stage c: from 'aa' is not an earlier stage; did you mean 'a'?"),
        (2, {"name": "a"}, "stage a: another stage has this name"),
        (2, {"options": {"data": "pairs.json", "lr": float("nan")}}, "stage c: option lr: Input should be a finite"),
        (2, {"options": {"data": "missing.json"}}, "stage c: option data: no such file 'missing.json', and no "
                                                   "prepare step writes it"),
        (2, {"options": {"data": "pairs.json", "eval_data": "nope.json"}}, "stage c: option eval_data: no such file"),
        (2, {"options": {"data": "tr.json"}}, "stage c: option data: tr.json is text2text data (from its prepare "
                                              "step), where paired_conversation or paired_text_to_text is needed"),
        (2, {"options": {}}, "stage c: option data: Field required"),
        (0, {"stage": "raft", "options": {"data": "tr.json", "reward_model": "rm"}},
         "stage a: option reward_model: stage 'rm' comes later"),
        (2, {"stage": "raft", "options": {"data": "tr.json", "reward_model": "./models/rm-missing"}},
         "stage c: option reward_model: not a stage of this recipe (./models/rm-missing: no such model directory)"),
    ],
)
def test_recipe_mistakes_found_before_anything_runs(tmp_path, index, changes, message):
    path = with_stage(tmp_path, index, **changes)
    with pytest.raises(FeedlearnError) as caught:
        run_recipe(path, log=lambda row: None)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert files_under(tmp_path) == ["r.yaml"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base": {"model": "./models/none"}}, "r.yaml: base.model: ./models/none: no such model directory"),
        ({"base": {"model": "m", "init_tiny": {}}}, "base needs model or init_tiny (one of them, not both)"),
        ({"base": {"init_tiny": {"hiden_size": 8}}}, "base.init_tiny: unknown option 'hiden_size'; did you mean "
                                                     "'hidden_size'?"),
        ({"base": {"init_tiny": {"hidden_size": 10 ** 6}}}, "base.init_tiny: hidden_size must be a whole number"),
        ({"base": {"init_tiny": {"hidden_size": 30, "heads": 4}}}, "must be a multiple of heads"),
        ({"base": {"init_tiny": {"layers": 0}}}, "base.init_tiny: layers must be a whole number from 1"),
        ({"prepare": [{"out": "a.json", "synthetic": {"n": 2}}, {"out": "a.json", "synthetic": {"n": 3}}]},
         "prepare a.json: another prepare step writes the same file"),
        ({"prepare": [{"out": "a.json", "synthetic": {"n": 2}, "convert": "x"}]},
         "prepare a.json: give synthetic, synthetic_preferences or convert (one of them, not synthetic and convert)"),
        ({"prepare": [{"out": "a.json", "convert": "no/such.txt", "from": "text"}]},
         "prepare a.json: convert: no such file 'no/such.txt'"),
        ({"prepare": [{"out": "a.json", "convert": "wiki_demo.txt.gz", "from": "csv"}]},
         "prepare a.json: from: 'csv' is not one of alpaca, sharegpt, hh, text"),
        ({"prepare": [{"out": "a.json", "convert": "wiki_demo.txt.gz", "from": "text", "rows": "1:2:0"}]},
         "prepare a.json: rows '1:2:0' must look like '0:27'"),
        ({"prepare": [{"out": "a.json", "synthetic": {"n": 2, "tasks": ["srot"]}}]},
         "prepare a.json: tasks: unknown synthetic task 'srot'"),
        ({"prepare": [{"out": "a.json", "synthetic": {"n": 10 ** 12}}]}, "prepare.0.synthetic.n: Input should be less"),
        ({"evals": [{"name": "e", "kind": "perplexity", "data": "tr.json"}]},
         "eval e: data: tr.json is text2text data (from its prepare step), where text_only is needed"),
        ({"evals": [{"name": "e", "kind": "rlhf", "data": "tr.json", "reward_model": "rn"}]},
         "eval e: reward_model: 'rn' is neither a stage of this recipe nor a model directory; did you mean 'rm'?"),
        ({"evals": [{"name": "e", "kind": "rlhf", "data": "tr.json"}]}, "eval e: reward_model: an rlhf eval needs one"),
        ({"evals": [{"name": "e", "kind": "generation", "data": "tr.json", "max_new_tokens": -1}]},
         "evals.0.max_new_tokens: Input should be greater than 0"),
        ({"steps_scale": float("nan")}, "r.yaml: steps_scale: Input should be a finite number"),
        ({"stagez": []}, "r.yaml: stagez: unknown option; did you mean 'stages'?"),
    ],
)
def test_recipe_wide_mistakes(tmp_path, monkeypatch, changes, message):
    path = recipe_file(tmp_path, **changes)
    with pytest.raises(FeedlearnError) as caught:
        run_recipe(path, log=lambda row: None)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert files_under(tmp_path) == ["r.yaml"]


def test_data_made_by_a_prepare_step_need_not_exist_yet(tmp_path):
    recipe = load_config(Recipe, recipe_file(tmp_path))
    check_recipe(recipe, "r.yaml")  # tr.json and pairs.json are made later: no error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("path", sorted(folder("recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_recipe_passes_the_check(path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # shipped data is found by name from any directory
    check_recipe(load_config(Recipe, path, [f"output_dir={tmp_path / 'run'}"]), path)


def test_bad_yaml_files_are_one_line_errors(tmp_path, capsys):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    assert main(["tune", "run", str(latin)]) == 2
    one_line_error(capsys, "latin.yaml:1: not UTF-8 text (byte 0x")
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["tune", "run", str(deep)]) == 2
    one_line_error(capsys, "deep.yaml: invalid YAML")


def test_corrupt_stage_summary_is_reported_not_trusted(tmp_path):
    (tmp_path / "summary.json").write_text('{"steps": 3, "model"')
    with pytest.raises(FeedlearnError, match=r"summary\.json: unreadable summary \(JSONDecodeError\); delete it"):
        _finished(tmp_path, 3)
    (tmp_path / "summary.json").write_text('[1, 2]')
    with pytest.raises(FeedlearnError, match=r"summary\.json: not a stage summary"):
        _finished(tmp_path, 3)


# 7. A missing local model path is an immediate error; a hub id still goes to the hub ----------------------


@pytest.fixture
def no_hub(monkeypatch):
    """transformers' loaders replaced: record what they were asked for, and fail like a hub miss."""
    import transformers

    asked: list[str] = []

    def from_pretrained(source, *args, **kwargs):
        asked.append(source)
        raise OSError(f"{source} is not a local folder and is not a valid model identifier")

    for name in ("AutoModelForCausalLM", "AutoModelForSequenceClassification", "AutoTokenizer"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", from_pretrained)
    return asked


@pytest.mark.parametrize("name", ["./runs/missing", "../missing", "runs/x/final", "models/tiny/", "~/no-such-model",
                                  "/no/such/model", "x,trust_remote_code=True", "bad name"])
def test_missing_local_model_paths_are_never_looked_up_on_the_hub(tmp_path, monkeypatch, no_hub, name):
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    for load in (load_model, load_tokenizer):
        with pytest.raises(FeedlearnError, match="no such model directory"):
            load(name)
    assert time.perf_counter() - started < 1 and no_hub == []


def test_a_path_under_an_existing_folder_is_local(tmp_path, monkeypatch, no_hub, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(FeedlearnError, match="^runs/final: no such model directory$"):
        load_model("runs/final")
    prompts = tmp_path / "p.txt"
    prompts.write_text("hi\n")
    assert main(["tune", "generate", "runs/final", "--prompts", str(prompts)]) == 2
    one_line_error(capsys, "runs/final: no such model directory")
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "hello"}\n')
    assert main(["tune", "data", "validate", str(data), "--tokenizer", "./tok"]) == 2
    one_line_error(capsys, "./tok: no such model directory")
    assert no_hub == []


def test_hub_ids_still_go_to_the_hub(no_hub):
    with pytest.raises(FeedlearnError, match=r"^Qwen/Qwen2\.5-0\.5B: cannot load a causal LM"):
        load_model("Qwen/Qwen2.5-0.5B")
    with pytest.raises(FeedlearnError, match="^gpt2: cannot load a tokenizer"):
        load_tokenizer("gpt2")
    assert no_hub == ["Qwen/Qwen2.5-0.5B", "gpt2"]


def test_home_relative_model_paths_are_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "model").mkdir()
    assert model_source("~/model") == str(tmp_path / "model")


# 8. Numbers from the command line and recipes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("lr=nan", "lr: Input should be a finite number"),
        ("lr=.inf", "lr: Input should be a finite number"),
        ("lr=-1e-4", "lr: Input should be greater than 0"),
        ("lr=0", "lr: Input should be greater than 0"),
        ("batch_size=0", "batch_size: Input should be greater than 0"),
        ("batch_size=1000000000", "batch_size: Input should be less than or equal to 65536"),
        ("max_steps=-5", "max_steps: Input should be greater than 0"),
        ("lora_r=0", "lora_r: Input should be greater than 0"),
        ("warmup_ratio=nan", "warmup_ratio: Input should be a finite number"),
        ("seed=-1", "seed: Input should be greater than or equal to 0"),
        ("max_length=99999999999", "max_length: Input should be less than or equal to"),
        ("max_stesp=3", "max_stesp: unknown option; did you mean 'max_steps'?"),
    ],
)
def test_train_options_are_checked(capsys, option, message):
    assert main(["tune", "train", "sft", "model=./m", "data=d.json", "output_dir=o", option]) == 2
    one_line_error(capsys, f"options: {message}")


def test_stage_specific_numbers_are_checked_too():
    with pytest.raises(FeedlearnError, match="options: temperature: Input should be a finite number"):
        load_config(STAGES["raft"].config_class, None, ["model=m", "data=d", "output_dir=o", "reward_model=r",
                                                        "temperature=.inf"])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--vocab-size=-5", "tiny model: vocab_size must be a whole number from 256"),
        ("--hidden-size=0", "tiny model: hidden_size must be a whole number from 1"),
        ("--layers=100000", "tiny model: layers must be a whole number from 1 to 256"),
        ("--heads=3", "tiny model: hidden_size 128 must be a multiple of heads 3"),
        ("--hidden-size=16384", "parameters; the embedded model is capped at 2B"),
        ("--template=nope", "unknown chat template 'nope'"),
    ],
)
def test_init_tiny_sizes_are_bounded(tmp_path, capsys, option, message):
    assert main(["tune", "init-tiny", str(tmp_path / "m"), option]) == 2
    one_line_error(capsys, message)
    assert not (tmp_path / "m").exists()


# 9. Model output, prompts and file text are printed literally ---------------------------------------------

EVIL = "[link=https://evil.example]click[/link] [bold red]x[/] \x1b]0;pwned\x07\x1b[2J\x9b31m"
SHOWN = "[link=https://evil.example]click[/link] [bold red]x[/] "


def test_generate_prints_prompts_and_completions_literally(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("feedlearn.tune.cli._model_and_tokenizer", lambda model, template: (None, None))
    monkeypatch.setattr(infer, "generate", lambda model, tok, items, options: [
        Completion(f"{EVIL}reply", stopped=False, tokens=3) for _ in items])
    prompts = tmp_path / "p.txt"
    prompts.write_text(f"{EVIL}prompt\n")
    assert main(["tune", "generate", "m", "--prompts", str(prompts), "--raw"]) == 0
    out = capsys.readouterr().out
    assert out == f"{SHOWN}prompt -> {SHOWN}reply (cut)\n"

    def streaming(model, tok, items, options):
        options.on_text(f"{EVIL}reply\n")
        return [Completion(f"{EVIL}reply", stopped=True, tokens=3)]

    monkeypatch.setattr(infer, "generate", streaming)
    assert main(["tune", "generate", "m", "--prompts", str(prompts), "--raw", "--stream"]) == 0
    assert capsys.readouterr().out == f"{SHOWN}prompt -> {SHOWN}reply\n"


def test_chat_streams_replies_without_control_sequences(monkeypatch, capsys):
    import io


    class Session:
        def __init__(self, *args):
            pass

        def send(self, text, on_text):
            on_text(f"{EVIL}{text}")

    monkeypatch.setattr("feedlearn.tune.cli._model_and_tokenizer", lambda model, template: (None, None))
    monkeypatch.setattr(chat, "ChatSession", Session)
    monkeypatch.setattr("sys.stdin", io.StringIO("hi\n/exit\n"))
    assert main(["tune", "chat", "m"]) == 0
    out = capsys.readouterr().out
    assert f"model> {SHOWN}hi\n" in out and "\x1b" not in out and "\x07" not in out


def test_recipe_table_cuts_no_number_or_stage_at_a_terminal_width():
    from rich.console import Console

    # the demo's shape: 11 metrics with two- and three-word names, perplexities in the millions
    rows = [{"stage": "instruction", "model": "m", **{f"metric number {j}": 874708.4 * 10**j for j in range(4)},
             **{f"align metric {j}": 0.5 for j in range(7)}}]
    console = Console(file=__import__("io").StringIO(), width=150, color_system=None)
    console.print(recipe_table({"recipe": "r", "rows": rows}))
    shown = console.file.getvalue()
    assert "…" not in shown and "instruction" in shown
    assert all(text in shown for text in ("8.75e+05", "8.75e+06", "8.75e+07", "8.75e+08", "0.500"))


def test_recipe_table_and_data_report_show_file_text_literally(tmp_path, capsys):
    from rich.console import Console


    table = recipe_table({"recipe": "[bold]r[/]", "rows": [{"stage": "[red]s[/]", "model": "m", f"{EVIL}m": 1.0}]})
    console = Console(file=__import__("io").StringIO(), width=300, color_system=None)
    console.print(table)
    shown = console.file.getvalue()
    assert "[bold]r[/]" in shown and "[red]s[/]" in shown and "[link=https://evil.example]" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "a", EVIL: 1}) + "\n")
    assert main(["tune", "data", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"fields not used by text_only (kept as they are): {SHOWN} (1 rows)" in out and "\x1b" not in out


def test_a_second_recipe_run_into_the_same_output_dir_is_refused(tmp_path, capsys):
    """One writer per run folder: two runs of a recipe would prepare and train the same stages."""
    path = recipe_file(tmp_path)
    with exclusive(tmp_path / "run", "recipe run"):
        with pytest.raises(FeedlearnError, match=r"run/\.lock: another recipe run \(pid \d+\) is writing to .*run; "
                                                 "wait for it to finish or use another output_dir"):
            run_recipe(path, log=lambda row: None)
        assert files_under(tmp_path) == ["r.yaml", "run", "run/.lock"]  # nothing prepared, made or trained


@pytest.mark.parametrize("argv", [
    ["tune", "generate", "./no-model", "--prompts", "PROMPTS", "--out", "DIR"],
    ["tune", "eval", "./no-model", "--data", "PROMPTS", "--json", "DIR"],
    ["tune", "score", "./no-model", "--data", "PROMPTS", "--out", "DIR"],
    ["tune", "data", "convert", "PROMPTS", "DIR", "--from", "alpaca"],
    ["tune", "export-gguf", "./no-model", "DIR"],
])
def test_outputs_are_checked_before_any_model_is_loaded(tmp_path, capsys, argv):
    """An output path that cannot be written fails first, not after generation or scoring."""
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "hi"}\n')
    argv = [str(prompts) if a == "PROMPTS" else str(tmp_path) if a == "DIR" else a for a in argv]
    assert main(argv) == 2
    one_line_error(capsys, f"{tmp_path}: is a folder; give a file name")


def test_generate_refuses_to_write_over_its_prompts(tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "hi"}\n')
    assert main(["tune", "generate", "./no-model", "--prompts", str(prompts), "--out", str(prompts)]) == 2
    one_line_error(capsys, f"--out {prompts}: is the input {prompts}; refusing to overwrite it")
    assert prompts.read_text() == '{"prompt": "hi"}\n'
