"""Issue 14 for the cache part: every bad input is a one-line error naming the file/line/field (or is
handled correctly), never a traceback, a hang, silent data loss or a destroyed file.

Sections follow the issue's items: 1 convert onto its input, 2 time going backwards, 3 policy
parameters, 4 the live cache keeping every item, 5 size overflow, 6 HALP model files, 7 outputs
checked before the run, 8 markup in names and fields, 9 numbers and bytes in trace files,
10 cache size spellings; then an audit of unpickling.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zstandard
from rich.console import Console

import feedlearn.cache.cli as cache_cli
from feedlearn.cache.halp import model as mlp
from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.s3fifo import S3FIFO
from feedlearn.cache.report import results_table, write_json
from feedlearn.cache.simulator import PreparedTrace, run_policy, simulate
from feedlearn.cache.sizes import MAX_CAPACITY, resolve_cache_size
from feedlearn.cache.stats import trace_stats
from feedlearn.cache.store import PolicyCache, learned_cache
from feedlearn.cache.traces import Trace, convert_trace, load_trace, write_oracle_general
from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import check_invariants, serve, simulated, zipf_requests

SRC = Path(__file__).resolve().parents[2] / "src" / "feedlearn" / "cache"
CSV = "1,1,100\n2,2,200\n3,1,100\n4,3,300\n"  # time, id, size: 4 requests, 3 objects


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def user_error(capsys, *argv: str) -> str:
    """Run the CLI, assert the clean-error contract (exit 2, one line, no traceback), return stderr."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def trace_csv(tmp_path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text(CSV)
    return path


@pytest.fixture
def no_sweep(monkeypatch):
    """Fail the test if the CLI starts a simulation (errors must come before it)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the simulation ran before the bad input was refused")
    monkeypatch.setattr(cache_cli, "sweep", refuse)


# --- 1. convert onto its own input; atomic output ---------------------------------------------


def test_convert_refuses_to_overwrite_its_input(capsys, tmp_path, trace_csv):
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(trace_csv)
    hard = tmp_path / "hard.csv"
    os.link(trace_csv, hard)
    for out in (trace_csv, tmp_path / "sub" / ".." / "t.csv", link, hard):
        err = user_error(capsys, "cache", "convert", trace_csv, out, "--format", "csv")
        assert "is the input" in err and "refusing to overwrite" in err
        assert trace_csv.read_text() == CSV  # untouched
    with pytest.raises(FeedlearnError, match="is the input"):
        convert_trace(link, trace_csv)  # the API too, whichever side is the link
    assert trace_csv.read_text() == CSV and sorted(p.name for p in tmp_path.iterdir()) == [
        "hard.csv", "link.csv", "sub", "t.csv"]


def test_failed_convert_leaves_no_file(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,1,100\n2,2,x\n")
    out = tmp_path / "out.oracleGeneral.bin"
    err = user_error(capsys, "cache", "convert", bad, out)
    assert "bad.csv:2: field obj_size: 'x'" in err
    # a size that oracleGeneral cannot hold fails while writing: the old output stays as it was
    out.write_bytes(b"previous")
    big = tmp_path / "big.csv"
    big.write_text(f"1,1,{2**32}\n")
    err = user_error(capsys, "cache", "convert", big, out)
    assert "uint32" in err
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "big.csv", "out.oracleGeneral.bin"]


# --- 2. time going backwards --------------------------------------------------------------------


BACKWARDS = "10,1,100\n2,2,100\n5,1,100\n12,3,100\n"  # the second request is 8 s earlier


def test_stats_on_a_trace_whose_time_goes_backwards(capsys, tmp_path):
    path = tmp_path / "back.csv"
    path.write_text(BACKWARDS)
    stats = trace_stats(load_trace(path))
    assert stats.time_span == 10.0  # latest 12 - earliest 2, not last - first
    assert (stats.out_of_order_times, stats.first_out_of_order) == (1, 2)
    code, out, err = run(capsys, "cache", "stats", path)
    assert code == 0, err
    assert re.search(r"time span\s*│\s*10\s", out) and "-8" not in out
    assert "1 requests earlier than the one before (first: request 2)" in out
    code, out, _ = run(capsys, "cache", "stats", path, "--json")
    assert code == 0 and json.loads(out)["first_out_of_order"] == 2


def test_windows_in_seconds_when_time_goes_backwards(capsys, tmp_path):
    # times 10 2 5 12, ids 1 2 1 3, 100 bytes each, LRU with room for all: only request 3 hits.
    # 5-second windows from the earliest time (2): 10 -> 1, 2 -> 0, 5 -> 0, 12 -> 2, so window 0
    # holds requests 2 (miss) and 3 (hit): 0.5; window 1 request 1: 1.0; window 2 request 4: 1.0.
    path = tmp_path / "back.csv"
    path.write_text(BACKWARDS)
    res = simulate(load_trace(path), "lru", 1000, window=5, window_unit="seconds")
    assert res.hits == 1 and res.window_byte_miss_ratios == [0.5, 1.0, 1.0]
    out_json = tmp_path / "r.json"
    code, _, err = run(capsys, "cache", "sim", path, "--size", "1000", "--window-unit", "seconds",
                       "--jobs", "1", "--json", out_json)
    assert code == 0, err
    # by default 100 windows of 0.1 s over the 10 s span: each request in its own, none negative
    assert json.loads(out_json.read_text())[0]["window_byte_miss_ratios"] == [1.0, 0.0, 1.0, 1.0]
    # halp's seconds clock never goes back (a negative age would overflow its decays)
    assert simulate(load_trace(path), "halp(time_unit=seconds)", 1000).hits == 1


def test_a_tiny_window_on_a_long_trace_does_not_allocate_per_empty_window():
    trace = Trace("t", np.array([0.0, 1e9]), np.array([1, 1], dtype=np.uint64), np.array([1, 1]))
    res = simulate(trace, "lru", 10, window=1e-3, window_unit="seconds")  # 1e12 windows, 2 non-empty
    assert res.window_byte_miss_ratios == [1.0, 0.0]
    with pytest.raises(FeedlearnError, match="too short"):
        simulate(trace, "lru", 10, window=1e-300, window_unit="seconds")


@pytest.mark.parametrize(("args", "message"), [
    (["--window", "nan"], "window nan must be a finite number > 0"),
    (["--window", "0"], "window 0.0 must be a finite number > 0"),
    (["--window", "0.5"], "a window holds at least one request"),
    (["--window-unit", "hours"], "window unit 'hours'"),
    (["--warmup", "-1"], "warmup -1"),
])
def test_bad_windows_are_refused_before_the_trace_is_read(capsys, tmp_path, args, message):
    assert message in user_error(capsys, "cache", "sim", tmp_path / "never-read.csv", *args)


# --- 3. policy parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), [
    ("s3fifo(small_ratio=0)", "s3fifo: small_ratio must be a finite number in (0, 1), got 0"),
    ("s3fifo(small_ratio=1)", "s3fifo: small_ratio must be a finite number in (0, 1), got 1"),
    ("s3fifo(small_ratio=1e999)", "s3fifo: small_ratio must be a finite number in (0, 1), got inf"),
    ("s3fifo(ghost_ratio=-1)", "s3fifo: ghost_ratio must be a finite number in [0, 1e+06], got -1"),
    ("s3fifo(ghost_ratio=1e999)", "s3fifo: ghost_ratio must be a finite number"),
    ("s3fifo(move_to_main_threshold=true)", "s3fifo: move_to_main_threshold must be an integer"),
    ("halp(k=8,tail=4)", "halp: need 2 <= k <= tail, got k=8, tail=4"),
    ("halp(tail=1000000000000)", "halp: tail must be an integer in [1, 65536], got 1000000000000"),
    ("halp(lr=1e999)", "halp: lr must be a finite number in (0, 1000), got inf"),
    ("halp(edc_base=0)", "halp: edc_base must be a finite number"),
    ("halp(hidden=0)", "halp: hidden must be an integer in [1, 4096], got 0"),
    ("halp(size_feature=1)", "halp: size_feature must be true or false"),
    ("lrb(learning_rate=1e999)", "lrb: learning_rate must be a finite number"),
    ("lrb(samples=1000000)", "lrb: samples must be an integer in [1, 64]"),
    ("lrb(leaves=1)", "lrb: leaves must be an integer in [2, 4096], got 1"),
    ("lhd(admissions=10000000000)", "lhd: admissions must be an integer in [1, 16777216]"),
    ("lhd(associativity=0)", "lhd: associativity must be an integer in [1, 16777216], got 0"),
    ("clock(n_bit_counter=0)", "clock: n_bit_counter must be an integer in [1,"),
    ("belady_size(samples=-1)", "belady_size: samples (0 = exact) must be an integer in [0,"),
])
def test_policy_parameters_are_checked_by_range(spec, message):
    with pytest.raises(FeedlearnError) as info:
        make_policy(spec)
    assert message in str(info.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5, 0.0, 1.0, True, "0.1"])
def test_s3fifo_small_ratio_from_python(value):
    with pytest.raises(FeedlearnError, match="s3fifo: small_ratio"):
        S3FIFO(small_ratio=value)


def test_a_bad_policy_parameter_fails_before_the_trace_is_read(capsys, tmp_path):
    err = user_error(capsys, "cache", "sim", tmp_path / "never-read.csv", "--policy", "lru,s3fifo(small_ratio=0)")
    assert "s3fifo(small_ratio=0)" in err and "small_ratio must be" in err and "never-read" not in err


# --- 4. the live cache keeps every item it has room for -------------------------------------------


@pytest.mark.parametrize("policy", ["lru", "s3fifo", "arc", "lhd", "sieve"])
def test_a_cache_with_room_keeps_every_item(policy):
    cache = PolicyCache(100_000, policy, getsizeof=lambda v: 1)
    for k in range(1000):
        cache[k] = k
    assert len(cache) == 1000 and cache.currsize == 1000
    assert all(cache.peek(k) == k for k in range(1000))
    check_invariants(cache)


@pytest.mark.parametrize("policy", ["lru", "s3fifo", "arc"])
def test_the_growing_pool_gives_the_simulators_hits(policy):
    # bytes 1..49, 3000-byte cache: the pool starts at 16 items and doubles as the cache fills;
    # the policy's state is moved into bigger arrays each time, losing nothing it knew
    ids, sizes = zipf_requests(seed=1)
    cache = PolicyCache(3000, policy, getsizeof=lambda v: v)
    assert cache.slots < 100
    assert serve(cache, ids, sizes) == simulated(ids, sizes, 3000, policy)
    assert cache.slots > 500
    check_invariants(cache)


def test_an_explicit_max_items_is_a_fixed_limit():
    cache = PolicyCache(100_000, "lru", getsizeof=lambda v: 1, max_items=10, ghost_slots=0)
    for k in range(1000):
        cache[k] = k
    assert len(cache) == 10 and sorted(cache) == list(range(990, 1000))


# --- 5. sizes from getsizeof ---------------------------------------------------------------------


def test_huge_sizes_cannot_overflow_currsize():
    with pytest.raises(FeedlearnError, match=r"maxsize must be at most 2\*\*62 - 1"):
        PolicyCache(2**63 - 1, getsizeof=lambda v: v)
    cache = PolicyCache(2**62 - 1, "lru", getsizeof=lambda v: v, max_items=4)
    cache["a"] = 2**61
    cache["b"] = 2**61  # 2**62 > maxsize: a evicted, never a negative currsize
    assert list(cache) == ["b"] and cache.currsize == 2**61
    with pytest.raises(ValueError, match="value too large"):
        cache["c"] = 2**62
    cache["c"] = np.int64(2**61 - 1)  # numpy integers are sizes too
    assert cache.currsize == 2**62 - 1 and sorted(cache) == ["b", "c"]
    check_invariants(cache)


@pytest.mark.parametrize(("size", "error", "message"), [
    (-1, FeedlearnError, "getsizeof returned -1; sizes must be >= 0"),
    (1.5, TypeError, "getsizeof returned 1.5; sizes must be integers"),
    (float("nan"), TypeError, "getsizeof returned nan"),
    ("3", TypeError, "getsizeof returned '3'"),
    (None, TypeError, "getsizeof returned None"),
])
def test_bad_sizes_from_getsizeof(size, error, message):
    cache = PolicyCache(10, getsizeof=lambda v: size)
    with pytest.raises(error, match=re.escape(message)):
        cache["k"] = 1
    assert len(cache) == 0 and cache.currsize == 0

    @learned_cache(maxsize=10, policy="lru", getsizeof=lambda v: size)
    def f(x):
        return x

    with pytest.raises(error):  # not mistaken for "too large to cache" and swallowed
        f(1)


# --- 6. HALP model files ---------------------------------------------------------------------------


F, H = 7, 5


def saved_model(tmp_path: Path, **replace: np.ndarray) -> Path:
    """A valid model file, with some arrays replaced (or dropped when given None)."""
    theta, m, v, step, dims, lr = mlp.new_model(F, H, np.random.default_rng(0), 1e-3)[:6]
    arrays = dict(theta=theta, adam_m=m, adam_v=v, step=step, dims=dims, lr=lr, format=np.array([1]))
    arrays.update(replace)
    path = tmp_path / "m.npz"
    np.savez(path, **{k: a for k, a in arrays.items() if a is not None})
    return path


def _write_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # np.save(path) would add ".npy" to the name
        np.save(handle, array)


def test_model_file_round_trip_still_works(tmp_path):
    assert np.array_equal(mlp.load_model(saved_model(tmp_path), F, H)[0], mlp.load_model(saved_model(tmp_path))[0])


@pytest.mark.parametrize(("damage", "message"), [
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "not a feedlearn HALP model, or a damaged one"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) - 30]), "not a feedlearn HALP model, or a damaged one"),
    (lambda p: p.write_bytes(b""), "not an .npz archive"),
    (lambda p: p.write_text("theta,1,2,3\n"), "not an .npz archive"),
    (lambda p: _write_npy(p, np.zeros(3)), "not an .npz archive"),
])
def test_damaged_model_files(tmp_path, damage, message):
    path = saved_model(tmp_path)
    damage(path)
    with pytest.raises(FeedlearnError) as info:
        mlp.load_model(path, F, H)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value) and "allow_pickle" not in str(info.value)


@pytest.mark.parametrize(("arrays", "message"), [
    (dict(theta=None), "no array 'theta'"),
    (dict(dims=None), "no array 'dims'"),
    (dict(theta=np.zeros(3, np.float32)), "array 'theta' is float32 (3,), expected shape (46,)"),
    (dict(dims=np.array([7, 5, 1])), "array 'dims' is int64 (3,), expected shape (2,)"),
    (dict(dims=np.array([10**9, 10**9])), "model dimensions 1000000000 x 1000000000 are out of range"),
    (dict(theta=np.array(["x"] * 46)), "array 'theta' is <U1 (46,)"),
    (dict(theta=np.array([None] * 46, dtype=object)), "array 'theta' is object (46,)"),
    (dict(theta=np.full(46, np.nan, np.float32)), "array 'theta' holds NaN or infinite values"),
    (dict(adam_m=np.full(46, np.inf, np.float32)), "array 'adam_m' holds NaN or infinite values"),
    (dict(lr=np.array([0.0])), "Adam state out of range"),
    (dict(adam_v=np.full(46, -1.0, np.float32)), "Adam state out of range"),
])
def test_model_files_with_wrong_contents(tmp_path, arrays, message):
    path = saved_model(tmp_path, **arrays)
    with pytest.raises(FeedlearnError) as info:
        mlp.load_model(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_a_forged_header_is_refused_before_allocating(tmp_path):
    # a theta whose header claims 2**40 floats: refused from the header, nothing read or allocated
    good = saved_model(tmp_path)
    path = tmp_path / "forged.npz"
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
    header += b" " * (117 - len(header)) + b"\n"  # magic + version + length + header: 128 bytes
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as archive:
        for name in source.namelist():
            data = source.read(name)
            if name == "theta.npy":
                data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
            archive.writestr(name, data)
    with pytest.raises(FeedlearnError, match=r"array 'theta' is float32 \(1099511627776,\)"):
        mlp.load_model(path)


def test_a_bad_model_fails_the_cli_before_the_trace_is_read(capsys, tmp_path):
    path = saved_model(tmp_path)
    path.write_bytes(path.read_bytes()[:300])  # a truncated download
    err = user_error(capsys, "cache", "sim", tmp_path / "never-read.csv", "--policy", f"halp(model={path})")
    assert f"{path}: not a feedlearn HALP model" in err and "BadZipFile" not in err
    err = user_error(capsys, "cache", "sim", tmp_path / "never-read.csv", "--policy", f"halp(model={tmp_path})")
    assert f"{tmp_path}: not a feedlearn HALP model" in err  # a folder


# --- 7. outputs checked before the simulation -----------------------------------------------------


@pytest.mark.parametrize(("option", "target", "message"), [
    ("--json", "{tmp}", "is a folder; give a file name"),
    ("--plot", "{tmp}/afile/r.png", "afile is not a folder"),
    ("--timeline", "{tmp}/fifo", "not a regular file; refusing to replace it"),
    ("--csv", "{trace}", "is the input"),
    ("--save-models", "{tmp}/afile", "is not a folder"),
    ("--save-models", "{tmp}/afile/models", "afile is not a folder"),
])
def test_unwritable_outputs_fail_before_the_run(capsys, tmp_path, trace_csv, no_sweep, option, target, message):
    (tmp_path / "afile").write_text("keep me")
    os.mkfifo(tmp_path / "fifo")
    target = target.format(tmp=tmp_path, trace=trace_csv)
    err = user_error(capsys, "cache", "sim", trace_csv, option, target)
    assert f"{option} {target}" in err and message in err
    assert (tmp_path / "afile").read_text() == "keep me" and trace_csv.read_text() == CSV


def test_two_outputs_into_one_file_are_refused(capsys, tmp_path, trace_csv, no_sweep):
    err = user_error(capsys, "cache", "sim", trace_csv, "--json", tmp_path / "r", "--plot", tmp_path / "x" / ".." / "r")
    assert "already the output of --json" in err


def test_a_read_only_folder_is_refused(capsys, tmp_path, trace_csv, no_sweep, monkeypatch):
    # (tests may run as root, who may write anywhere: the permission check itself is simulated)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path / "ro" else real_access(p, mode))
    (tmp_path / "ro").mkdir()
    err = user_error(capsys, "cache", "sim", trace_csv, "--json", tmp_path / "ro" / "new" / "r.json")
    assert f"cannot write in {tmp_path / 'ro'} (permission denied)" in err


def test_results_are_written_atomically(tmp_path, trace_csv, monkeypatch):
    res = simulate(load_trace(trace_csv), "lru", 1000)
    out = tmp_path / "r.json"
    out.write_text("previous results")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # the write fails after the data went out
    with pytest.raises(OSError, match="No space left"):
        write_json([res], out)
    assert out.read_text() == "previous results"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "t.csv"]  # no temporary left behind


# --- 8. markup and control sequences in names and fields -----------------------------------------


def test_a_bad_field_that_looks_like_markup_is_shown_literally(capsys, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("1,1,100\n2,[/x],100\n")
    err = user_error(capsys, "cache", "stats", path)
    assert "m.csv:2: field obj_id: '[/x]' is not a non-negative integer (column 2)" in err
    path.write_text("1,1,100\n2,2,[red]big\x1b[31m\n")
    err = user_error(capsys, "cache", "stats", path)
    assert "field obj_size: '[red]big" in err and "\x1b" not in err


def test_file_names_with_brackets_print_literally(capsys, tmp_path):
    path = tmp_path / "[red]t[bold].csv"  # (a closing tag "[/]" cannot be in a file name)
    path.write_text(CSV)
    code, out, err = run(capsys, "cache", "sim", path, "--size", "1000", "--jobs", "1",
                         "--json", tmp_path / "[bold]r.json")
    assert code == 0, err
    assert "[red]t[bold].csv" in out and "results: " in out and "[bold]r.json" in out
    code, out, err = run(capsys, "cache", "stats", path)
    assert code == 0 and "trace [red]t[bold].csv" in out
    err = user_error(capsys, "cache", "stats", tmp_path / "[red]missing.csv")
    assert "[red]missing.csv: no such trace file" in err
    # the table itself, rendered: cells are text, not markup
    console = Console(record=True, width=200)
    console.print(results_table([simulate(load_trace(path), "lru", 1000)]))
    assert "[red]t[bold].csv" in console.export_text()


# --- 9. numbers and bytes in trace files ------------------------------------------------------------


@pytest.mark.parametrize(("line", "message"), [
    ("nan,1,100", "bad.csv:2: field time: 'nan' is not a finite number (column 1)"),
    ("inf,1,100", "bad.csv:2: field time: 'inf' is not a finite number (column 1)"),
    ("-5,1,100", "bad.csv:2: field time: -5 is negative (column 1)"),
    ("2,1,-100", "bad.csv:2: field obj_size: -100 is out of range [0, 4611686018427387903] (column 3)"),
    ("2,1,nan", "bad.csv:2: field obj_size: 'nan' is not a non-negative integer (column 3)"),
    ("2,1,1e3", "bad.csv:2: field obj_size: '1e3' is not a non-negative integer (column 3)"),
    (f"2,1,{2**63}", f"bad.csv:2: field obj_size: {2**63} is out of range"),
    (f"2,1,{2**62}", f"bad.csv:2: field obj_size: {2**62} is out of range"),
    ("2,abc,100", "bad.csv:2: field obj_id: 'abc' is not a non-negative integer (column 2)"),
    ("2,-1,100", "bad.csv:2: field obj_id: -1 is out of range [0, 18446744073709551615] (column 2)"),
    (f"2,{2**64},100", f"bad.csv:2: field obj_id: {2**64} is out of range"),
    ("2,1_000,100", "bad.csv:2: field obj_id: '1_000' is not a non-negative integer"),
    ("2," + "9" * 100_000 + ",100", "bad.csv:2: field obj_id: 99999999999999999999...9999999999 is out of range"),
    ("2,1," + "9" * 200_000, "bad.csv:2: not a valid CSV line (field larger than field limit (131072))"),
    ("2,1,\x00", "bad.csv:2: field obj_size: '\\x00' is not a non-negative integer (column 3)"),
])
def test_bad_numbers_in_csv_traces_name_file_line_and_column(capsys, tmp_path, line, message):
    path = tmp_path / "bad.csv"
    path.write_text("1,1,100\n" + line + "\n")
    with pytest.raises(FeedlearnError) as info:
        load_trace(path)
    assert message in str(info.value)
    assert message in user_error(capsys, "cache", "stats", path)


def test_non_utf8_bytes_name_the_line(capsys, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"1,1,100\n2,2,100\n3,caf\xe9,100\n")
    err = user_error(capsys, "cache", "stats", path)
    assert "latin1.csv:3: byte 0xe9 at column 6 is not UTF-8 text" in err and "UnicodeDecodeError" not in err
    compressed = tmp_path / "latin1.csv.zst"
    compressed.write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    assert "latin1.csv.zst:3: byte 0xe9" in user_error(capsys, "cache", "stats", compressed)


def test_a_truncated_zstd_trace_is_not_read_as_a_shorter_one(tmp_path):
    rows = "".join(f"{i},{i % 977},{100 + i % 13}\n" for i in range(50_000)).encode()
    data = zstandard.ZstdCompressor().compress(rows)
    path = tmp_path / "t.csv.zst"
    path.write_bytes(data)
    assert len(load_trace(path)) == 50_000
    path.write_bytes(data + data)  # two frames: both read
    assert len(load_trace(path)) == 100_000
    cut = data[: len(data) // 2]
    path.write_bytes(cut)
    with pytest.raises(FeedlearnError, match=r"t\.csv\.zst: the zstd file is truncated"):
        load_trace(path)


@pytest.mark.parametrize("name", ["e.csv", "e.lis", "e.oracleGeneral.bin", "e.csv.zst"])
def test_empty_trace_files(capsys, tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert f"{name}: the trace has no requests" in user_error(capsys, "cache", "stats", tmp_path / name)


def test_a_folder_is_not_a_trace(capsys, tmp_path):
    (tmp_path / "d.csv").mkdir()
    assert "d.csv: not a regular file" in user_error(capsys, "cache", "stats", tmp_path / "d.csv")


def test_oracle_files_whose_length_is_not_whole_records(capsys, tmp_path):
    path = tmp_path / "t.oracleGeneral.bin"
    record = struct.pack("<IQIq", 1, 2, 3, -1)
    for extra in (1, 23):
        path.write_bytes(record * 3 + b"\x00" * extra)
        err = user_error(capsys, "cache", "stats", path)
        assert f"t.oracleGeneral.bin:record 4: truncated record: {extra} of 24 bytes" in err


def test_a_corrupt_next_access_column_is_refused_where_it_is_used(capsys, tmp_path):
    # ids 1 2 1: the true next-access column is 3, -1, -1 (1-based); record 1 claims 2 (object 2)
    path = tmp_path / "t.oracleGeneral.bin"
    path.write_bytes(b"".join(struct.pack("<IQIq", t, o, 10, n) for t, o, n in ((1, 1, 2), (2, 2, -1), (3, 1, -1))))
    trace = load_trace(path)
    assert simulate(trace, "lru", 100).hits == 1  # online policies never read the column
    with pytest.raises(FeedlearnError, match=r"t\.oracleGeneral\.bin: record 1: next-access index 2 is wrong"):
        simulate(trace, "belady", 100)
    assert "record 1: next-access index 2 is wrong" in user_error(capsys, "cache", "sim", path, "--policy", "belady")
    fixed = tmp_path / "fixed.oracleGeneral.bin"
    write_oracle_general(trace, fixed)  # converting recomputes the column
    assert load_trace(fixed).next_access.tolist() == [3, -1, -1]
    assert simulate(load_trace(fixed), "belady", 100).hits == 1


@pytest.mark.parametrize(("text", "message"), [
    ("1 2 0 0\n5 3000000000 0 1\n", "bad.lis:2: the trace expands to more than 2,147,483,648 requests"),
    (f"{2**64 - 2} 5 0 0\n", "bad.lis:1: the last block, 18446744073709551618, is beyond 2**64 - 1"),
    ("1 " + "9" * 5000 + " 0 0\n", "bad.lis:1: start_block and n_blocks must be integers"),
    ("1 -2 0 0\n", "bad.lis:1: start_block and n_blocks must be >= 0"),
])
def test_lis_counts_are_bounded_before_allocating(capsys, tmp_path, text, message):
    path = tmp_path / "bad.lis"
    path.write_text(text)
    assert message in user_error(capsys, "cache", "stats", path)


def test_lis_block_ids_near_2_64_stay_exact(tmp_path):
    path = tmp_path / "big.lis"
    path.write_text(f"{2**64 - 3} 2 0 0\n")
    assert load_trace(path).obj_id.tolist() == [2**64 - 3, 2**64 - 2]  # no float rounding


def test_traces_whose_bytes_add_up_past_2_62_are_refused(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("".join(f"{i},{i},{2**61}\n" for i in range(3)))
    with pytest.raises(FeedlearnError, match=r"huge\.csv: the requests add up to 6\.92e\+18 bytes, more than the limit"):
        load_trace(path)
    with pytest.raises(FeedlearnError, match="request 2 has a negative size"):
        Trace("t", np.zeros(2), np.array([1, 2], dtype=np.uint64), np.array([1, -1]))
    with pytest.raises(FeedlearnError, match="request 1 has a time that is not a finite number"):
        Trace("t", np.array([np.nan]), np.array([1], dtype=np.uint64), np.array([1]))


@pytest.mark.parametrize(("argv", "message"), [
    (["--requests", "0"], "n_requests must be an integer in [1, 2,147,483,648], got 0"),
    (["--requests", "100000000000"], "n_requests must be an integer in [1, 2,147,483,648]"),
    (["--objects", "0"], "n_objects must be an integer in [1,"),
    (["--alpha", "nan"], "alpha must be a finite number >= 0, got nan"),
])
def test_generator_counts_are_bounded(capsys, tmp_path, argv, message):
    assert message in user_error(capsys, "cache", "generate", "zipf", tmp_path / "z.bin", *argv)
    assert not (tmp_path / "z.bin").exists()


# --- 10. cache size arguments --------------------------------------------------------------------


@pytest.mark.parametrize(("size", "message"), [
    ("0", "cache size '0': a fraction must be in (0, 100%]"),
    ("-1%", "cache size '-1%': expected e.g. 64MiB"),
    ("150%", "cache size '150%': a fraction must be in (0, 100%]"),
    ("nan", "cache size 'nan': expected e.g. 64MiB"),
    ("abc", "cache size 'abc': expected e.g. 64MiB"),
    ("inf", "cache size 'inf': expected e.g. 64MiB"),
    ("1e999", "cache size '1e999' is not a finite number"),
    ("1e30GB", "cache size '1e30GB' is larger than the limit of 4611686018427387903 bytes"),
    ("0.4B", "cache size '0.4B' is smaller than one byte"),
])
def test_bad_cache_sizes(capsys, tmp_path, size, message):
    # checked before the trace is read: the trace does not even exist
    err = user_error(capsys, "cache", "sim", tmp_path / "never-read.csv", "--size", f"1%,{size}")
    assert message in err


@pytest.mark.parametrize("spec", [float("nan"), float("inf"), 2**62, True, None, [1]])
def test_bad_cache_sizes_from_python(spec):
    with pytest.raises(FeedlearnError, match="cache size"):
        resolve_cache_size(spec, 1000)


def test_cache_sizes_are_capped_below_int64_overflow():
    assert resolve_cache_size("100%", 2**62) == MAX_CAPACITY
    assert resolve_cache_size(MAX_CAPACITY, 10) == MAX_CAPACITY
    with pytest.raises(FeedlearnError, match="larger than the limit"):
        resolve_cache_size("4194304TiB", 1)  # exactly 2**62 bytes


# --- audit: nothing from a file is unpickled ----------------------------------------------------------


def test_no_unpickling_in_the_cache_part():
    sources = {p: p.read_text() for p in SRC.rglob("*.py")}
    for path, text in sources.items():
        assert "import pickle" not in text and "pickle.load" not in text, path
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=False" in call, (path, call)
    assert any("np.load(" in text for text in sources.values())  # the audit looked at the one loader


def test_run_policy_still_works_on_good_input(trace_csv):
    # guard for the checks above: a good trace through a learned and a classic policy
    prepared = PreparedTrace.of(load_trace(trace_csv))
    assert run_policy(prepared, make_policy("lru"), 1000).tolist() == [False, False, True, False]
