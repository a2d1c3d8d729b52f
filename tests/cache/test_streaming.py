"""Streaming replay (``streaming.py``) equals whole-trace replay, in memory independent of length."""

from __future__ import annotations

import tracemalloc
from functools import cache

import numpy as np
import pytest
import zstandard

from feedlearn.cache.policies import POLICIES, make_policy
from feedlearn.cache.simulator import PreparedTrace, _measure, _simulate_streamed, run_policy, simulate
from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.cache.streaming import StreamedTrace
from feedlearn.cache.sweep import SweepConfig, sweep
from feedlearn.cache.traces import Trace, load_trace, write_oracle_general, zipf_trace
from feedlearn.cache.traces.oracle import ORACLE_DTYPE
from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import folder


def _clean(diagnostics: dict) -> dict:
    """Diagnostics without wall-clock times (LRB's training seconds differ run to run)."""
    d = dict(diagnostics)
    d.pop("training_seconds", None)
    if isinstance(d.get("history"), list):
        d["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in d["history"]]
    return d


@cache
def _prefix(n: int) -> Trace:
    """The first ``n`` requests of a shipped trace (real sizes, reuse at every distance)."""
    t = load_trace(folder("traces") / "cloudPhysicsIO.oracleGeneral.bin")
    return Trace(t.name, t.time[:n], t.obj_id[:n], t.size[:n]).with_next_access()


def _same(trace: Trace, spec: str, size: str, chunks: tuple[int, ...], **settings) -> None:
    """Whole-trace replay once, then a streamed replay per chunk size: the same hits, metrics, diagnostics."""
    settings = {"warmup": 0, "window": None, "window_unit": "requests", **settings}
    prepared = PreparedTrace.of(trace)
    pol = make_policy(spec)
    capacity = resolve_cache_size(size, prepared.unique_bytes)
    whole_hits = run_policy(prepared, pol, capacity)
    whole = _measure(prepared, pol, capacity, whole_hits, 0.0, **settings)
    for chunk in chunks:
        hits: list[np.ndarray] = []
        streamed = _simulate_streamed(StreamedTrace.scan(trace, chunk=chunk), make_policy(spec), size, seed=0,
                                      progress=False, hits_out=hits, **settings)
        a, b = whole.record(), streamed.record()
        a.pop("seconds"), b.pop("seconds")
        assert a == b
        assert np.array_equal(np.concatenate(hits), whole_hits)
        assert streamed.window_byte_miss_ratios == whole.window_byte_miss_ratios
        assert _clean(streamed.diagnostics) == _clean(whole.diagnostics)


# LRB with fewer trees: the same code paths (retraining between chunks), a third of the test's time
SPECS = {**{name: name for name in POLICIES}, "lrb": "lrb(trees=8)"}


@pytest.mark.parametrize("name", list(SPECS))
def test_every_policy_streams_identically(name):
    # chunks of 997, 7 and 1 requests split the trace at places no policy chunk (2**18, LRB's 8192)
    # aligns with; the smaller the chunk the shorter the prefix (each chunk costs ~0.1 ms of Python)
    _same(_prefix(20_000), SPECS[name], "5%", (997,), warmup=1000)
    _same(_prefix(5000), SPECS[name], "5%", (7,), warmup=100)
    _same(_prefix(1000), SPECS[name], "10%", (1,))


def test_seconds_windows_and_warmup_stream_identically():
    for spec in ("lru", "halp(time_unit=seconds)"):
        _same(_prefix(20_000), spec, "5%", (997,), warmup=3000, window=50.0, window_unit="seconds")
        _same(_prefix(20_000), spec, "5%", (997,), warmup=3000, window_unit="seconds")


def test_request_features_stream_identically():
    t = _prefix(8000)
    features = np.stack([t.obj_id % 3, t.size % 5], axis=1).astype(np.float32)
    t = Trace(t.name, t.time, t.obj_id, t.size, features=features).with_next_access()
    for spec in ("halp", "lrb(batch=512)"):
        _same(t, spec, "5%", (997,))


def _loaded_and_streamed(path, specs=("lru",)) -> None:
    st = StreamedTrace.scan(path, chunk=997)
    loaded = load_trace(path)
    prepared = PreparedTrace.of(loaded, unit_size=not loaded.has_sizes)
    assert (st.n_requests, st.n_objects, st.unique_bytes) == (len(loaded), prepared.n_objects, prepared.unique_bytes)
    for spec in specs:
        a, b = simulate(prepared, spec, "10%").record(), simulate(st, spec, "10%").record()
        a.pop("seconds"), b.pop("seconds")
        assert a == b


def test_trace_files_stream_as_loaded(tmp_path):
    # each reader's own chunks: oracleGeneral (shipped), CSV, ARC .lis.zst with lines split across chunks
    _loaded_and_streamed(folder("traces") / "cloudPhysicsIO.oracleGeneral.bin", ("lru", "belady"))
    t = _prefix(5000)
    csv = tmp_path / "t.csv"
    csv.write_text("".join(f"{int(a)},{b},{c}\n" for a, b, c in zip(t.time, t.obj_id, t.size)))
    _loaded_and_streamed(csv)
    lis = tmp_path / "t.lis.zst"
    lines = "".join(f"{o % 5000} {1 + o % 700} 0 {k}\n" for k, o in enumerate(t.obj_id[:300].tolist()))
    lis.write_bytes(zstandard.ZstdCompressor().compress(lines.encode()))
    _loaded_and_streamed(lis)


def test_compressed_oracle_streams(tmp_path):
    write_oracle_general(_prefix(20_000), tmp_path / "c.oracleGeneral.bin")
    path = tmp_path / "c.oracleGeneral.bin.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress((tmp_path / "c.oracleGeneral.bin").read_bytes()))
    st = StreamedTrace.scan(path, chunk=4099)
    assert st.n_requests == 20_000 and st.has_next_access
    assert simulate(st, "belady", "10%").hits == simulate(load_trace(path), "belady", "10%").hits


def test_belady_on_a_csv_says_convert_first(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,5,100\n2,6,100\n3,5,100\n")
    st = StreamedTrace.scan(path)
    assert simulate(st, "lru", 1000).hits == 1
    with pytest.raises(FeedlearnError, match=r"t\.csv: belady needs .*feedlearn cache convert .*t\.oracleGeneral\.bin"):
        simulate(st, "belady", 1000)
    with pytest.raises(FeedlearnError, match="convert"):  # a sweep refuses before simulating anything
        sweep([str(path)], ["lru", "belady_size"], [1000], jobs=1, stream=True)


def test_a_wrong_next_access_column_is_refused(tmp_path):
    path = tmp_path / "t.oracleGeneral.bin"
    write_oracle_general(Trace("t", np.arange(4.0), np.array([1, 2, 1, 2], dtype=np.uint64), np.ones(4, np.int64)),
                         path)
    records = np.fromfile(path, dtype=ORACLE_DTYPE)
    records["nxt"][1] = 3  # request 2 (object 2) claims request 3 (object 1) comes next
    records.tofile(path)
    with pytest.raises(FeedlearnError, match=r"t\.oracleGeneral\.bin:record 2: next-access index is wrong"):
        simulate(StreamedTrace.scan(path, chunk=3), "belady", 2)


def test_sweep_streams_as_it_loads():
    path = str(folder("traces") / "cloudPhysicsIO.oracleGeneral.bin")
    config = SweepConfig(window=5000)
    whole = sweep([path], ["lru", "s3fifo"], ["1%", "10%"], config=config, jobs=1, stream=False)
    streamed = sweep([path], ["lru", "s3fifo"], ["1%", "10%"], config=config, jobs=1, stream=True)
    assert [(r.hits, r.window_byte_miss_ratios) for r in whole] == [(r.hits, r.window_byte_miss_ratios) for r in streamed]


def _peak(path, chunk: int) -> int:
    st = StreamedTrace.scan(path, chunk=chunk)
    tracemalloc.start()
    try:
        simulate(st, "s3fifo", "10%")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_trace(tmp_path):
    # same objects, 4x the requests: a whole-trace replay needs ~4x the memory, a streamed one no more
    peaks = []
    for n in (40_000, 160_000):
        path = tmp_path / f"z{n}.oracleGeneral.bin"
        write_oracle_general(zipf_trace(n, 3000, seed=1, object_size=(100, 10_000)), path)
        peaks.append(_peak(path, 4096))
    assert peaks[1] < 1.1 * peaks[0], peaks
    assert peaks[0] < 40_000 * 24  # less than the trace's own records


def test_progress_shows_on_a_stream():
    st = StreamedTrace.scan(_prefix(3000), chunk=1000)
    assert simulate(st, "lru", "10%", progress=True).requests == 3000
