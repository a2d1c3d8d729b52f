"""The shipped data: found by name inside the package, from any directory; a file of that name wins."""

from __future__ import annotations

from pathlib import Path

import pytest

import feedlearn
from feedlearn.bargain.scenario import load_scenario
from feedlearn.cache.traces import load_trace
from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import KINDS, file_names, find, folder, names, short_name
from feedlearn.tune.data import convert
from feedlearn.tune.recipe import run_recipe

PACKAGE = Path(feedlearn.__file__).resolve().parent

SHIPPED = {
    "recipes": ["gpu-check", "gpu-check-qlora", "llama3-8b-qlora", "qwen2.5-0.5b-lora", "tiny-4stage", "tiny-quick"],
    "scenarios": ["balloon", "laptop-multi-issue", "used-bike"],
    "traces": ["arc_OLTP", "cloudPhysicsIO", "tencentBlock.ns1326", "tencentBlock.ns2706"],
    "datasets": ["alpaca_en_demo", "c4_demo", "dpo_en_demo", "hh-rlhf-harmless-base-test", "wiki_demo"],
    "selfplay": ["selfplay", "selfplay-demo", "selfplay-qwen2.5-lora"],
}


def test_every_kind_lists_its_files_inside_the_package_with_a_readme():
    assert list(KINDS) == list(SHIPPED)
    for kind, expected in SHIPPED.items():
        assert names(kind) == expected
        assert folder(kind).resolve() == PACKAGE / "shipped" / kind
        assert (folder(kind) / "README.md").is_file()  # provenance travels with the data
        for name, file_name in file_names(kind).items():
            assert short_name(file_name) == name
            assert find(kind, name) == find(kind, file_name) == folder(kind) / file_name


@pytest.mark.parametrize(("file_name", "name"), [("tencentBlock.ns2706.sample.csv", "tencentBlock.ns2706"),
                                                 ("cloudPhysicsIO.oracleGeneral.bin", "cloudPhysicsIO"),
                                                 ("arc_OLTP.lis.zst", "arc_OLTP"), ("tiny-4stage.yaml", "tiny-4stage"),
                                                 ("hh-rlhf-harmless-base-test.jsonl.gz", "hh-rlhf-harmless-base-test"),
                                                 ("qwen2.5-0.5b-lora.yaml", "qwen2.5-0.5b-lora"), (".yaml", ".yaml")])
def test_short_name_drops_format_suffixes_only(file_name, name):
    assert short_name(file_name) == name


def test_the_libraries_take_shipped_names_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trace = load_trace("tencentBlock.ns2706")  # 100,001 requests (shipped/traces/README.md)
    assert (trace.name, len(trace.obj_id)) == ("tencentBlock.ns2706.sample.csv", 100_001)
    assert (load_scenario("used-bike").seller_cost, load_scenario("used-bike.yaml").seller_ask) == (120, 300)
    assert len(convert("wiki_demo", "text")) == 30  # one Wikipedia article per line
    with pytest.raises(FeedlearnError, match="^tiny-4stag: no such file, and no shipped recipe .*'tiny-4stage'"):
        run_recipe("tiny-4stag")


def test_a_file_of_that_name_wins_over_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("used-bike").write_text("name: mine\nseller_cost: 1\nseller_ask: 5\nbuyer_open: 2\n")
    assert find("scenarios", "used-bike") == Path("used-bike")
    assert load_scenario("used-bike").seller_ask == 5


def test_unknown_names_are_one_line_errors_with_the_close_match(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FeedlearnError, match=r"^used-bik: no such file, and no shipped scenario of that name "
                                             r"\(feedlearn list scenarios\); did you mean 'used-bike'\?$"):
        load_scenario("used-bik")
    with pytest.raises(FeedlearnError, match="no shipped trace of that name .*; known: arc_OLTP, cloudPhysicsIO, "):
        load_trace("nothing")
    # what looks like a file is a path: the reader's own "no such file"
    assert find("traces", "no/such") == Path("no/such") and find("traces", "such.csv") == Path("such.csv")
    with pytest.raises(FeedlearnError, match="unknown kind of shipped data 'trace'; known: .*did you mean 'traces'"):
        names("trace")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_feedlearn_list(capsys):
    code, out, err = run(capsys, "list", "scenarios")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:4] == ["  balloon             balloon.yaml", "  laptop-multi-issue  laptop-multi-issue.yaml",
                                     "  used-bike           used-bike.yaml"]
    assert out.splitlines()[-1] == f"provenance and licences: {folder('scenarios') / 'README.md'}"
    for kind, expected in SHIPPED.items():
        code, out, _ = run(capsys, "list", kind)
        assert code == 0 and [line.split()[0] for line in out.splitlines()[1:1 + len(expected)]] == expected
    code, out, err = run(capsys, "list", "models")
    assert (code, out) == (2, "") and err.startswith("error: unknown kind of shipped data 'models'") and err.count("\n") == 1


def test_commands_take_shipped_names(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "cache", "stats", "tencentBlock.ns2706", "--json")
    assert code == 0 and '"requests": 100001' in out
    code, out, _ = run(capsys, "bargain", "play", "--scenario", "used-bike")  # scripted players: one game
    assert code == 0 and "used city bike" in out and out.splitlines()[-1] == "deal at $210"
