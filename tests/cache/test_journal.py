"""A sweep's journal: a crash loses only the tasks in flight, and a rerun resumes from the rest."""

from __future__ import annotations

import json

import pytest

from feedlearn.cache import sweep as sweep_module
from feedlearn.cache.journal import HEADER, SweepJournal, journal_path
from feedlearn.cache.sweep import SweepConfig, sweep
from feedlearn.cache.traces import zipf_trace
from feedlearn.common.errors import FeedlearnError

TRACES = [zipf_trace(4_000, 400, seed=1, object_size=(10, 1000)), zipf_trace(3_000, 300, seed=2)]
POLICIES = ["lru", "fifo", "s3fifo"]
SIZES = ["5%", "20%"]
RUN_TASK = sweep_module._run_task


class Crash(Exception):
    pass


def counting_runs(monkeypatch, crash_on: str | None = None, sizes: bool = False) -> list:
    """Record ``_run_task`` calls (with their sizes if ``sizes``); raise ``Crash`` on the policy ``crash_on``."""
    calls = []

    def run(ti, policy, run_sizes, config):
        if policy == crash_on:
            raise Crash(policy)
        calls.append((ti, policy, tuple(run_sizes)) if sizes else (ti, policy))
        return RUN_TASK(ti, policy, run_sizes, config)

    monkeypatch.setattr(sweep_module, "_run_task", run)
    return calls


def test_a_rerun_after_a_crash_simulates_only_the_unfinished_tasks(tmp_path, monkeypatch):
    path = tmp_path / "out.json.partial.jsonl"
    fresh = sweep(TRACES, POLICIES, SIZES, jobs=1)
    calls = counting_runs(monkeypatch, crash_on="s3fifo")
    journal = SweepJournal(path)
    with pytest.raises(Crash):
        sweep(TRACES, POLICIES, SIZES, jobs=1, journal=journal)
    journal.close(remove=False)
    assert calls == [(0, "lru"), (0, "fifo")]  # the crash came at trace 0's third task
    assert len(path.read_text().splitlines()) == 1 + 2 * 2  # header + two finished tasks x two sizes

    calls = counting_runs(monkeypatch)
    journal = SweepJournal(path)
    assert len(journal.finished) == 4
    resumed = sweep(TRACES, POLICIES, SIZES, jobs=1, journal=journal)
    journal.close(remove=True)
    assert calls == [(0, "s3fifo"), (1, "lru"), (1, "fifo"), (1, "s3fifo")]
    assert [(r.trace, r.policy, r.cache_size, r.hits, r.byte_miss_ratio, r.window_byte_miss_ratios) for r in resumed] == \
        [(r.trace, r.policy, r.cache_size, r.hits, r.byte_miss_ratio, r.window_byte_miss_ratios) for r in fresh]
    assert not path.exists()


def test_other_settings_or_another_trace_are_simulated_again(tmp_path, monkeypatch):
    path = tmp_path / "j.jsonl"
    journal = SweepJournal(path)
    sweep(TRACES[:1], ["lru"], SIZES, jobs=1, journal=journal)
    journal.close(remove=False)
    calls = counting_runs(monkeypatch)
    for kwargs in ({"config": SweepConfig(warmup=10)}, {"unit_size": True}):
        journal = SweepJournal(path)
        sweep(TRACES[:1], ["lru"], SIZES, jobs=1, journal=journal, **kwargs)
        journal.close(remove=False)
    journal = SweepJournal(path)
    sweep([zipf_trace(4_000, 400, seed=9, object_size=(10, 1000))], ["lru"], SIZES, jobs=1, journal=journal)
    sweep(TRACES[:1], ["lru"], ["10%"], jobs=1, journal=journal)  # another size: another simulation
    sweep(TRACES[:1], ["lru"], ["5%"], jobs=1, journal=journal)  # done by the first sweep
    journal.close(remove=False)
    assert len(calls) == 4


def test_a_line_cut_short_by_a_crash_is_dropped_and_that_task_runs_again(tmp_path, monkeypatch):
    path = tmp_path / "j.jsonl"
    journal = SweepJournal(path)
    sweep(TRACES[:1], ["lru", "fifo"], SIZES, jobs=1, journal=journal)
    journal.close(remove=False)
    whole = path.read_bytes()
    path.write_bytes(whole[:-40])  # the last line (fifo at 20%) lost its end
    calls = counting_runs(monkeypatch, sizes=True)
    journal = SweepJournal(path)
    assert len(journal.finished) == 3
    sweep(TRACES[:1], ["lru", "fifo"], SIZES, jobs=1, journal=journal)
    journal.close(remove=False)
    assert calls == [(0, "fifo", ("20%",))]  # only the lost size ran again
    assert path.read_bytes().count(b"\n") == 5 and json.loads(path.read_bytes().splitlines()[0]) == HEADER


@pytest.mark.parametrize(("content", "message"), [
    (b'{"some": "other file"}\n', ":1: not a feedlearn sweep journal; refusing to append"),
    (json.dumps(HEADER).encode() + b"\n{not json\n" + b'{"task": "x", "results": []}\n', ":2: not a JSON line"),
    (json.dumps(HEADER).encode() + b'\n{"task": 3, "results": []}\n', ":2: a journal line needs 'task'"),
    (json.dumps(HEADER).encode() + b'\n{"task": "k", "results": [{"trace": "t"}]}\n', ":2: results.0.policy: "),
])
def test_a_bad_journal_is_one_line_naming_file_and_line_and_is_left_alone(tmp_path, content, message):
    path = tmp_path / "j.jsonl"
    path.write_bytes(content)
    with pytest.raises(FeedlearnError, match=message):
        SweepJournal(path)
    assert path.read_bytes() == content


def test_a_nan_miss_ratio_in_a_journal_is_refused(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = SweepJournal(path)
    sweep(TRACES[:1], ["lru"], ["5%"], jobs=1, journal=journal)
    journal.close(remove=False)
    header, line = path.read_text().splitlines()
    entry = json.loads(line)
    entry["results"][0]["byte_miss_ratio"] = float("nan")
    path.write_text(header + "\n" + json.dumps(entry) + "\n")
    with pytest.raises(FeedlearnError, match=r":2: results: a miss ratio outside \[0, 1\]"):
        SweepJournal(path)


def test_one_writer_at_a_time(tmp_path):
    path = journal_path(tmp_path / "out.json")
    assert path.name == "out.json.partial.jsonl"
    first = SweepJournal(path)
    with pytest.raises(FeedlearnError, match="another sweep is writing these results"):
        SweepJournal(path)
    first.close(remove=False)
    SweepJournal(path).close(remove=True)
    assert not path.exists()


def test_a_parallel_sweep_journals_every_task(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = SweepJournal(path)
    pooled = sweep(TRACES[:1], ["lru", "fifo"], ["5%"], jobs=2, journal=journal)
    journal.close(remove=False)
    journal = SweepJournal(path)
    assert len(journal.finished) == 2  # (trace, policy, size) cells
    again = sweep(TRACES[:1], ["lru", "fifo"], ["5%"], jobs=2, journal=journal)
    journal.close(remove=True)
    assert [r.hits for r in again] == [r.hits for r in pooled]
