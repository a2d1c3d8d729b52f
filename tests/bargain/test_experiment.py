"""Many runs: JSONL written as runs finish, resume after a crash, seeds recorded; report and CLI."""

from __future__ import annotations

import json

import pytest

from feedlearn.bargain.experiment import ExperimentConfig, finished_runs, run_experiment
from feedlearn.bargain.report import markdown, report
from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError


def test_runs_are_written_as_they_finish_and_resume_skips_them(tmp_path):
    config = ExperimentConfig(runs=12, rounds=3, concurrency=4, seed=7)
    first = run_experiment(config, tmp_path / "x")
    assert [r["run"] for r in first] == list(range(12)) and [r["seed"] for r in first] == list(range(7, 19))
    lines = (tmp_path / "x" / "runs.jsonl").read_text().splitlines()
    # a crash: the last two runs lost, the file ends in a torn line
    (tmp_path / "x" / "runs.jsonl").write_text("\n".join(lines[:10]) + "\n" + lines[10][:25])
    assert len(finished_runs(tmp_path / "x" / "runs.jsonl")) == 10
    with pytest.raises(FeedlearnError, match="exists; pass --resume"):
        run_experiment(config, tmp_path / "x")
    again = run_experiment(config, tmp_path / "x", resume=True)
    assert [r["rounds"] for r in again] == [r["rounds"] for r in first]  # same seeds, same results


def test_same_seed_same_experiment(tmp_path):
    config = ExperimentConfig(runs=5, rounds=4, feedback="random", seed=3)
    a, b = run_experiment(config, tmp_path / "a"), run_experiment(config, tmp_path / "b")
    assert a == b


def test_ai_feedback_beats_none_in_price_and_costs_deals(tmp_path):
    for feedback in ("ai", "none"):
        run_experiment(ExperimentConfig(runs=40, rounds=5, feedback=feedback), tmp_path / feedback)
    rows = report([tmp_path / "ai", tmp_path / "none"])
    ai, none = rows["ai"], rows["none"]
    assert ai[0]["mean_price"] == none[0]["mean_price"]  # round 1: no feedback yet, same seeds
    assert ai[2]["mean_price"] > none[2]["mean_price"] + 2  # the critic's advice moves the price up
    assert ai[4]["success_ratio"] < none[4]["success_ratio"]  # at the cost of deals, as in the paper
    table = markdown(rows)
    assert table.count("\n") == 2 + 10 and "| ai | 2 |" in table


def test_cli_run_and_report(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["bargain", "run", "--out", str(out), "--runs", "6", "--rounds", "3", "--feedback", "ai"]) == 0
    assert len((out / "runs.jsonl").read_text().splitlines()) == 6
    assert json.loads((out / "config.json").read_text())["feedback"] == "ai"
    png, md = tmp_path / "fig.png", tmp_path / "t.md"
    assert main(["bargain", "report", str(out), "--plot", str(png), "--markdown", str(md)]) == 0
    assert png.stat().st_size > 0 and "| r | 1 |" in md.read_text()
    assert main(["bargain", "report", str(tmp_path / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
