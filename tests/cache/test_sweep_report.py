"""Sweeps (parallel == serial), result files, the plot, and trace statistics."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from feedlearn.cache.report import human_bytes, plot_miss_ratios, write_csv, write_json
from feedlearn.cache.stats import trace_stats
from feedlearn.cache.sweep import SweepConfig, sweep
from feedlearn.cache.traces import Trace, load_trace, zipf_trace
from feedlearn.common.errors import FeedlearnError

RECORD_KEYS = {"trace", "policy", "cache_size", "requests", "object_miss_ratio", "byte_miss_ratio",
               "p95_window_byte_miss_ratio", "seconds"}


def test_parallel_sweep_equals_serial(traces_dir):
    traces = [zipf_trace(20_000, 2_000, 0.9, seed=1, object_size=(100, 10_000)),
              str(traces_dir / "tencentBlock.ns2706.sample.csv")]
    serial = sweep(traces, ["lru", "fifo"], ["1%", "10%"], jobs=1)
    parallel = sweep(traces, ["lru", "fifo"], ["1%", "10%"], jobs=2)
    key = lambda r: (r.trace, r.policy, r.cache_size, r.hits, r.byte_miss_ratio)  # noqa: E731
    assert [key(r) for r in serial] == [key(r) for r in parallel]
    assert [(r.policy, r.cache_size) for r in serial[:4]] == [
        ("lru", serial[0].cache_size), ("lru", serial[1].cache_size),
        ("fifo", serial[0].cache_size), ("fifo", serial[1].cache_size)]


def test_sweep_rejects_unknown_policy_before_work():
    with pytest.raises(FeedlearnError, match="unknown policy"):
        sweep([zipf_trace(10, 5)], ["lru", "nope"], ["10%"], jobs=1)


def test_result_files_and_plot(tmp_path):
    results = sweep([zipf_trace(5_000, 500, seed=2, object_size=(10, 1000))], ["lru", "fifo"], ["5%", "20%"],
                    jobs=1, config=SweepConfig(warmup=100))
    write_json(results, tmp_path / "r.json")
    records = json.loads((tmp_path / "r.json").read_text())
    assert len(records) == 4 and RECORD_KEYS <= set(records[0])
    assert all(r["requests"] == 4_900 for r in records)
    write_csv(results, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [float(r["byte_miss_ratio"]) for r in rows] == [r["byte_miss_ratio"] for r in records]
    png = plot_miss_ratios(results, tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trace_stats_by_hand():
    trace = Trace("x", np.array([0.0, 1, 2, 5]), np.array([1, 2, 1, 3], dtype=np.uint64), np.array([10, 20, 10, 30]))
    stats = trace_stats(trace)
    assert (stats.requests, stats.unique_objects, stats.unique_bytes, stats.total_bytes) == (4, 3, 60, 70)
    assert stats.one_hit_wonders == 2 and stats.one_hit_wonder_ratio == pytest.approx(2 / 3)
    assert (stats.size_min, stats.size_median, stats.size_max, stats.time_span) == (10, 20.0, 30, 5.0)


def test_stats_of_shipped_trace(traces_dir):
    stats = trace_stats(load_trace(traces_dir / "tencentBlock.ns2706.sample.csv"))
    assert stats.one_hit_wonder_ratio == pytest.approx(0.740, abs=5e-4)  # README: 74.0%


def test_human_bytes():
    assert human_bytes(512) == "512B"
    assert human_bytes(20_297_697) == "19.4MiB"


def test_sweep_uses_forkserver_when_threads_run_and_gets_the_same_results():
    import threading

    from feedlearn.cache import sweep as sweep_module

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert sweep_module._start_method() == "forkserver"  # forking now could deadlock OpenMP children
        trace = zipf_trace(5_000, 500, 0.9, seed=2)
        pooled = sweep([trace], ["lru", "lrb(batch=512)"], ["5%"], jobs=2)
        alone = sweep([trace], ["lru", "lrb(batch=512)"], ["5%"], jobs=1)
        assert [r.hits for r in pooled] == [r.hits for r in alone]
    finally:
        stop.set()
        worker.join()
