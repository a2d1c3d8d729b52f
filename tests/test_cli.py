"""The CLI contract: names and keys later checks rely on, one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from feedlearn import __version__
from feedlearn.cache.journal import SweepJournal, journal_path
from feedlearn.cache.sweep import sweep
from feedlearn.cache.traces import load_trace
from feedlearn.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help(capsys):
    assert run(capsys, "--version") == (0, f"feedlearn {__version__}\n", "")
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "cache" in out
    code, out, _ = run(capsys, "cache", "--help")
    assert code == 0 and all(c in out for c in ("sim", "stats", "convert", "generate"))


def test_sim_json_plot_and_table(capsys, tmp_path, traces_dir):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    code, out, err = run(capsys, "cache", "sim", str(traces_dir / "tencentBlock.ns2706.sample.csv"),
                         "--policy", "lru,fifo", "--size", "10%", "--json", str(out_json),
                         "--plot", str(out_png), "--jobs", "1", "--window", "1000")
    assert code == 0, err
    records = json.loads(out_json.read_text())
    assert [r["policy"] for r in records] == ["lru", "fifo"]
    lru = records[0]
    # libCacheSim 0.3.5 on this trace at 10% (shipped/traces/README.md): LRU (.3919, .4637)
    assert lru["cache_size"] == 47_251_456
    assert round(lru["object_miss_ratio"], 4) == 0.3919 and round(lru["byte_miss_ratio"], 4) == 0.4637
    for key in ("trace", "requests", "p95_window_byte_miss_ratio", "seconds"):
        assert key in lru
    assert "0.3919" in out and out_png.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.png"]  # the journal is gone

    # a sweep cut short leaves its journal; the same command resumes from it (cache/journal.py)
    journal = SweepJournal(journal_path(out_json))
    sweep([str(traces_dir / "tencentBlock.ns2706.sample.csv")], ["lru"], ["10%"], jobs=1, journal=journal)
    journal.close(remove=False)
    code, out, err = run(capsys, "cache", "sim", str(traces_dir / "tencentBlock.ns2706.sample.csv"),
                         "--policy", "lru,fifo", "--size", "10%", "--json", str(out_json), "--jobs", "1")
    assert code == 0 and json.loads(out_json.read_text())[0]["byte_miss_ratio"] == lru["byte_miss_ratio"]
    assert "resumed: 1 of 2 result(s) were already in" in out  # lru's cell reused, fifo's simulated
    assert not (tmp_path / "r.json.partial.jsonl").exists()


def test_sim_timeline_and_saved_models(capsys, tmp_path, traces_dir):
    out_json, timeline, models = tmp_path / "r.json", tmp_path / "t.png", tmp_path / "models"
    code, out, err = run(capsys, "cache", "sim", str(traces_dir / "tencentBlock.ns2706.sample.csv"),
                         "--policy", "lru,halp(min_updates=1)", "--size", "1%", "--json", str(out_json),
                         "--timeline", str(timeline), "--save-models", str(models), "--jobs", "1")
    assert code == 0, err
    records = json.loads(out_json.read_text())
    halp = records[1]
    assert len(halp["window_byte_miss_ratios"]) == 100
    history = halp["diagnostics"]["history"]
    assert len(history["loss"]) == halp["diagnostics"]["updates"] > 0
    assert timeline.read_bytes()[:4] == b"\x89PNG"
    saved = list(models.iterdir())
    assert len(saved) == 1 and saved[0].name.startswith("tencentBlock.ns2706.sample.csv-halp")
    code, _, err = run(capsys, "cache", "sim", str(traces_dir / "tencentBlock.ns2706.sample.csv"),
                       "--policy", f"halp(model={saved[0]})", "--size", "1%", "--jobs", "1")
    assert code == 0, err


def test_stats_and_convert_round_trip(capsys, tmp_path, traces_dir):
    code, out, _ = run(capsys, "cache", "stats", str(traces_dir / "tencentBlock.ns2706.sample.csv"), "--json")
    assert code == 0 and json.loads(out)["unique_objects"] == 34_571
    out_bin = tmp_path / "t.oracleGeneral.bin"
    code, _, _ = run(capsys, "cache", "convert", str(traces_dir / "tencentBlock.ns2706.sample.csv"), str(out_bin))
    assert code == 0
    original = load_trace(traces_dir / "tencentBlock.ns2706.sample.csv")
    converted = load_trace(out_bin)
    assert converted.obj_id.tolist() == original.obj_id.tolist()
    assert converted.size.tolist() == original.size.tolist()


def test_generate(capsys, tmp_path):
    out = tmp_path / "z.oracleGeneral.bin"
    code, _, _ = run(capsys, "cache", "generate", "zipf", str(out), "--requests", "1000", "--objects", "50")
    assert code == 0 and len(load_trace(out)) == 1000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cache", "sim", "missing.csv"], "missing.csv: no such trace file"),
        (["cache", "sim", "x.parquet"], "cannot infer the trace format"),
        (["cache", "sim", "{t}", "--policy", "lru,nosuch"], "unknown policy 'nosuch'"),
        (["cache", "sim", "{t}", "--policy", "lru(k=1)"], "unknown parameter"),
        (["cache", "sim", "{t}", "--size", "ten"], "cache size 'ten'"),
        (["cache", "sim", "{t}", "--executor", "spark"], "unknown executor 'spark'; known: local, ray"),
        (["cache", "sim", "{t}", "--format", "parquet"], "unknown trace format"),
        (["cache", "generate", "pareto", "{tmp}/x.bin"], "unknown generator"),
    ],
)
def test_user_errors_are_one_line_exit_2(capsys, tmp_path, traces_dir, argv, message):
    argv = [a.format(t=traces_dir / "tencentBlock.ns2706.sample.csv", tmp=tmp_path) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_usage_error_exits_2(capsys):
    code, _, err = run(capsys, "cache", "sim")
    assert code == 2 and "Missing argument" in err


def test_error_text_is_shown_literally_not_as_markup_or_terminal_codes(capsys, tmp_path, monkeypatch):
    """File names, file contents and server words reach error messages: no markup, no escapes."""
    import feedlearn.cache.cli as cache_cli
    from feedlearn.common.errors import FeedlearnError

    def hostile(*args, **kwargs):
        raise FeedlearnError("trace.csv:3: field [/x] [red]id[/red] [link=http://evil]here[/link] \x1b]0;pwned\x07\x1b[2J")

    monkeypatch.setattr(cache_cli, "load_trace", hostile)
    code, out, err = run(capsys, "cache", "stats", str(tmp_path / "trace.csv"))
    assert code == 2 and out == ""
    assert err == "error: trace.csv:3: field [/x] [red]id[/red] [link=http://evil]here[/link]\n"


def test_unexpected_exception_is_one_line_and_debug_shows_the_traceback(capsys, tmp_path, monkeypatch):
    import feedlearn.cache.cli as cache_cli

    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(cache_cli, "load_trace", bug)
    code, _, err = run(capsys, "cache", "stats", str(tmp_path / "t.csv"))
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: ") is False and "internal error (KeyError): 'oops'" in err and "--debug" in err
    with pytest.raises(KeyError):
        main(["--debug", "cache", "stats", str(tmp_path / "t.csv")])


def test_os_errors_name_the_path(capsys, tmp_path, monkeypatch):
    import feedlearn.cache.cli as cache_cli

    def unreadable(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache_cli, "load_trace", unreadable)
    code, _, err = run(capsys, "cache", "stats", str(tmp_path / "t.csv"))
    assert (code, err) == (2, f"error: {tmp_path / 't.csv'}: Permission denied\n")


@pytest.mark.parametrize("argv", [
    ["tune", "run", "HUGE"],
    ["tune", "train", "sft", "--config", "HUGE"],
    ["bargain", "run", "--out", "OUT", "--config", "HUGE"],
    ["bargain", "play", "--scenario", "HUGE"],
])
def test_settings_files_are_read_with_a_bound(capsys, tmp_path, argv):
    """A config, recipe or scenario that is huge (or /dev/zero) is one line, not all of memory."""
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(17 * 2**20)  # sparse: costs no disk
    argv = [str(huge) if a == "HUGE" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and f"error: {huge}: larger than " in err, err
