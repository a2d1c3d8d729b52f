"""Trace readers: shipped files load with the documented statistics, round trips, bad input."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from feedlearn.cache.traces import (
    CsvReader,
    CsvSpec,
    LisReader,
    OracleGeneralReader,
    Request,
    Trace,
    TraceReader,
    infer_format,
    load_trace,
    next_access_indices,
    open_trace,
    write_oracle_general,
)
from feedlearn.common.errors import FeedlearnError

# (requests, unique objects, unique bytes) from shipped/traces/README.md (measured with libCacheSim)
SHIPPED = {
    "cloudPhysicsIO.oracleGeneral.bin": (113_872, 48_974, 2_029_769_728),
    "tencentBlock.ns1326.sample.csv": (100_001, 50_350, 578_224_128),
    "tencentBlock.ns2706.sample.csv": (100_001, 34_571, 472_514_560),
    "arc_OLTP.lis.zst": (914_145, 186_880, 186_880),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_traces_match_documented_stats(traces_dir, name):
    trace = load_trace(traces_dir / name)
    requests, unique, unique_bytes = SHIPPED[name]
    assert len(trace) == requests
    assert len(np.unique(trace.obj_id)) == unique
    assert trace.unique_bytes() == unique_bytes


def test_oracle_next_access_matches_computed(traces_dir):
    trace = load_trace(traces_dir / "cloudPhysicsIO.oracleGeneral.bin")
    assert np.array_equal(trace.next_access, next_access_indices(trace.obj_id))


def test_readers_follow_the_protocol_and_iterate_like_read(traces_dir):
    for name in SHIPPED:
        reader = open_trace(traces_dir / name)
        assert isinstance(reader, TraceReader)
    reader = open_trace(traces_dir / "tencentBlock.ns2706.sample.csv")
    first = [r for _, r in zip(range(3), reader)]
    assert first == [Request(1.0, 0, 12288), Request(1.0, 1, 65536), Request(1.0, 2, 4096)]
    trace = reader.read()
    assert list(trace)[:3] == first


def test_next_access_by_hand():
    ids = np.array([5, 7, 5, 5, 9, 7], dtype=np.uint64)
    # request 0 (5) -> next 5 is request 2 -> 1-based 3; 1 (7) -> 6; 2 -> 4; 3 -> none; 4 -> none; 5 -> none
    assert next_access_indices(ids).tolist() == [3, 6, 4, -1, -1, -1]


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=50),
    size_seed=st.integers(0, 1000),
)
def test_oracle_write_read_round_trip(tmp_path_factory, ids, size_seed):
    rng = np.random.default_rng(size_seed)
    n = len(ids)
    trace = Trace("x", np.sort(rng.integers(0, 2**32 - 1, n)).astype(np.float64),
                  np.array(ids, dtype=np.uint64), rng.integers(0, 2**32 - 1, n).astype(np.int64))
    path = tmp_path_factory.mktemp("rt") / "x.oracleGeneral.bin"
    write_oracle_general(trace, path)
    back = load_trace(path)
    assert np.array_equal(back.obj_id, trace.obj_id)
    assert np.array_equal(back.size, trace.size)
    assert np.array_equal(back.time, trace.time)
    assert np.array_equal(back.next_access, next_access_indices(trace.obj_id))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2**64 - 1), st.integers(0, 2**40)), min_size=1, max_size=40),
    delimiter=st.sampled_from([",", "\t", ";", " "]),
    header=st.booleans(),
)
def test_csv_write_read_round_trip(tmp_path_factory, rows, delimiter, header):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    lines = (["time,id,size".replace(",", delimiter)] if header else [])
    lines += [delimiter.join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    spec = CsvSpec(delimiter=delimiter, has_header=header)
    trace = CsvReader(path, spec).read()
    assert trace.time.tolist() == [float(r[0]) for r in rows]
    assert trace.obj_id.tolist() == [r[1] for r in rows]
    assert trace.size.tolist() == [r[2] for r in rows]
    inferred = CsvReader(path).read()  # delimiter and header inferred
    assert inferred.obj_id.tolist() == trace.obj_id.tolist()


def test_csv_spec_parsing_like_libcachesim():
    spec = CsvSpec.parse("time-col=2,obj-id-col=5,obj-size-col=4,delimiter=,,has-header=true")
    assert spec == CsvSpec(time_col=2, obj_id_col=5, obj_size_col=4, delimiter=",", has_header=True)
    assert CsvSpec.parse("delimiter=tab,obj-id-is-num=false").delimiter == "\t"
    with pytest.raises(FeedlearnError, match="unknown item"):
        CsvSpec.parse("time-column=1")
    with pytest.raises(FeedlearnError, match="column number"):
        CsvSpec.parse("obj-id-col=x")


def test_csv_string_ids_and_missing_columns(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("key,ts\nuser:1,10\nuser:2,11\nuser:1,12\n")
    trace = CsvReader(path, "time-col=2,obj-id-col=1,obj-size-col=0,obj-id-is-num=false").read()
    assert trace.obj_id.tolist() == [0, 1, 0]
    assert trace.size.tolist() == [1, 1, 1]
    assert not trace.has_sizes
    assert trace.time.tolist() == [10.0, 11.0, 12.0]


def test_csv_feature_columns(tmp_path):
    spec = CsvSpec.parse("time-col=1,obj-id-col=2,feature-cols=5,4,obj-size-col=3")
    assert spec.feature_cols == (5, 4) and spec.obj_size_col == 3
    for bad, pattern in [("feature-cols=0", "distinct 1-based"), ("feature-cols=4,4", "distinct 1-based"),
                         ("feature-cols=a", "column number")]:
        with pytest.raises(FeedlearnError, match=pattern):
            CsvSpec.parse(bad)
    path = tmp_path / "f.csv"
    path.write_text("1,7,100,0.5,2\n2,8,200,1.5,3\n3,7,100,-1,4\n")
    trace = load_trace(path, csv_spec=spec)
    assert trace.features is not None and trace.features.dtype == np.float32
    assert trace.features.tolist() == [[2, 0.5], [3, 1.5], [4, -1]]
    # derived traces keep them; a plain read has none
    assert trace.unit_size().features is trace.features
    assert trace.with_next_access().features is trace.features
    assert load_trace(path).features is None
    path.write_text("1,7,100,0.5,2\n2,8,200,inf,3\n")
    with pytest.raises(FeedlearnError, match=r"f\.csv:2: field feature \(column 4\): 'inf' is not a finite number"):
        load_trace(path, csv_spec=spec)
    path.write_text("1,7,100,0.5\n")
    with pytest.raises(FeedlearnError, match=r"f\.csv:1: expected at least 5 fields"):
        load_trace(path, csv_spec=spec)


def test_cloudphysics_csv_with_header_via_spec(tmp_path):
    # the libCacheSim sample layout: version,time,op,size,lbn
    path = tmp_path / "cp.csv"
    path.write_text("version,time,op,size,lbn\n1,100,28,4096,77\n1,101,2a,512,78\n")
    trace = load_trace(path, csv_spec="time-col=2,obj-id-col=5,obj-size-col=4")
    assert trace.obj_id.tolist() == [77, 78] and trace.size.tolist() == [4096, 512]


def test_lis_expands_blocks(tmp_path):
    path = tmp_path / "t.lis"
    path.write_text("10 3 0 0\n4 1 0 1\n\n20 2 0 2\n")
    trace = LisReader(path).read()
    assert trace.obj_id.tolist() == [10, 11, 12, 4, 20, 21]
    assert trace.time.tolist() == [0, 0, 0, 1, 2, 2]
    assert trace.size.tolist() == [1] * 6
    assert [r.obj_id for r in LisReader(path)] == [10, 11, 12, 4, 20, 21]
    compressed = tmp_path / "t.lis.zst"
    compressed.write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    assert load_trace(compressed).obj_id.tolist() == [10, 11, 12, 4, 20, 21]


def test_format_inference():
    assert infer_format("a/b.oracleGeneral.bin") == "oracle"
    assert infer_format("x.CSV") == "csv"
    assert infer_format("x.tsv.zst") == "csv"
    assert infer_format("OLTP.lis.zst") == "lis"
    with pytest.raises(FeedlearnError, match="--format"):
        infer_format("trace.parquet")
    with pytest.raises(FeedlearnError, match="unknown trace format"):
        open_trace("x.csv", format="parquet")


# ---- bad input: one clear error naming the file and the record/line --------------------------


def test_truncated_binary_record_names_the_record(tmp_path):
    path = tmp_path / "t.oracleGeneral.bin"
    path.write_bytes(struct.pack("<IQIq", 1, 2, 3, -1) * 2 + b"\x00" * 10)
    with pytest.raises(FeedlearnError, match=r"t\.oracleGeneral\.bin:record 3: truncated record: 10 of 24 bytes"):
        OracleGeneralReader(path).read()


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1,2,3\n4,5\n", r"bad\.csv:2: expected at least 3 fields, got 2"),
        ("1,2,3\n4,x,6\n", r"bad\.csv:2: field obj_id: 'x' is not a non-negative integer"),
        ("1,2,3\n4,5,-6\n", r"bad\.csv:2: field obj_size: -6 is out of range"),
        ("1,2,3\nnow,5,6\n", r"bad\.csv:2: field time: 'now' is not a number"),
        ("t,id,size\n1,2,3\n1,2,3.5\n", r"bad\.csv:3: field obj_size: '3.5'"),
    ],
)
def test_bad_csv_lines_are_named(tmp_path, text, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(FeedlearnError, match=pattern):
        load_trace(path)


def test_bad_lis_line_is_named(tmp_path):
    path = tmp_path / "bad.lis"
    path.write_text("1 1 0 0\n2 x 0 1\n")
    with pytest.raises(FeedlearnError, match=r"bad\.lis:2: start_block and n_blocks must be integers"):
        load_trace(path)


@pytest.mark.parametrize("name", ["e.oracleGeneral.bin", "e.csv", "e.lis"])
def test_empty_traces_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(FeedlearnError, match="has no requests"):
        load_trace(path)


def test_header_only_csv_is_empty(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("time,id,size\n")
    with pytest.raises(FeedlearnError, match="has no requests"):
        load_trace(path)


def test_missing_file_and_bad_zstd(tmp_path):
    with pytest.raises(FeedlearnError, match="no such trace file"):
        load_trace(tmp_path / "nope.csv")
    broken = tmp_path / "b.csv.zst"
    broken.write_bytes(b"not zstd at all")
    with pytest.raises(FeedlearnError, match="b.csv.zst"):
        load_trace(broken)


def test_trace_unit_size_and_bytes():
    trace = Trace("x", np.zeros(3), np.array([1, 2, 1], dtype=np.uint64), np.array([10, 20, 10]))
    assert trace.unique_bytes() == 30
    assert trace.unit_size().unique_bytes() == 2
