"""Many runs: JSONL written as runs finish, resume after a crash, seeds recorded; report and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedlearn.bargain.experiment import ExperimentConfig, finished_runs, run_experiment
from feedlearn.bargain.report import markdown, report
from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import folder


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
    on_disk = finished_runs(tmp_path / "x" / "runs.jsonl")  # the torn line was cut, not glued to run 10
    assert [on_disk[i]["rounds"] for i in range(12)] == [r["rounds"] for r in first]


def test_a_corrupt_line_inside_runs_jsonl_is_one_line_error(tmp_path):
    run_experiment(ExperimentConfig(runs=3, rounds=2), tmp_path / "x")
    path = tmp_path / "x" / "runs.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{oops", lines[2]]) + "\n")
    with pytest.raises(FeedlearnError, match=r"runs.jsonl:2: not a run record \(JSONDecodeError"):
        run_experiment(ExperimentConfig(runs=3, rounds=2), tmp_path / "x", resume=True)
    with pytest.raises(FeedlearnError, match=r"runs.jsonl:2: not a run record"):
        report([tmp_path / "x"])


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


def test_an_interrupted_experiment_keeps_every_finished_run_and_resumes_exactly(tmp_path, monkeypatch):
    """Ctrl-C (the main task cancelled) mid-experiment: runs.jsonl holds exactly the runs reported
    finished, each a whole line; resume completes it to the uninterrupted result. Only
    ``concurrency`` worker tasks exist, however many runs are asked for."""
    import asyncio

    from feedlearn.bargain.backends.scripted import ScriptedNegotiator
    from feedlearn.bargain.experiment import run_experiment_async

    instant = ScriptedNegotiator.complete

    async def slow(self, messages, params):  # a reply that really waits, like an API call
        await asyncio.sleep(0.001)
        return await instant(self, messages, params)

    config = ExperimentConfig(runs=40, rounds=3, concurrency=4, seed=1)
    reference = run_experiment(config, tmp_path / "whole")
    monkeypatch.setattr(ScriptedNegotiator, "complete", slow)
    finished, tasks_seen = [], []

    async def interrupted() -> None:
        main_task = asyncio.current_task()

        def on_done(row):
            finished.append(row["run"])
            tasks_seen.append(len(asyncio.all_tasks()))
            if len(finished) == 9:
                main_task.cancel()

        await run_experiment_async(config, tmp_path / "cut", on_done=on_done)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(interrupted())
    lines = (tmp_path / "cut" / "runs.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["run"] for line in lines) == sorted(finished) and 9 <= len(finished) < 40
    assert max(tasks_seen) <= 1 + config.concurrency  # the main task + the workers, not one task per run
    resumed = run_experiment(config, tmp_path / "cut", resume=True)
    assert [r["rounds"] for r in resumed] == [r["rounds"] for r in reference]


def test_resume_with_other_settings_is_refused(tmp_path):
    run_experiment(ExperimentConfig(runs=3, rounds=2, feedback="ai"), tmp_path / "x")
    with pytest.raises(FeedlearnError, match=r"config.json: feedback was 'ai', now 'none'; resume with the same"):
        run_experiment(ExperimentConfig(runs=3, rounds=2, feedback="none"), tmp_path / "x", resume=True)
    more = run_experiment(ExperimentConfig(runs=5, rounds=2, feedback="ai", concurrency=2), tmp_path / "x", resume=True)
    assert [r["run"] for r in more] == list(range(5))  # more runs and other concurrency are fine


def test_cli_run_takes_players_scenario_and_coach(tmp_path, capsys):

    bike = folder("scenarios") / "used-bike.yaml"
    out = tmp_path / "b"
    args = ["bargain", "run", "--out", str(out), "--runs", "3", "--rounds", "2", "--coach", "both",
            "--scenario", str(bike), "--seller", "scripted:seller", "--moderator", "rules"]
    assert main(args) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["coach"] == "both" and saved["scenario"] == str(bike)
    first = json.loads((out / "runs.jsonl").read_text().splitlines()[0])
    assert first["rounds"][0]["game"]["turns"][0][1] != "This is a good balloon and its price is $20."
    assert main(["bargain", "run", "--out", str(tmp_path / "c"), "--critic", "gpt:x"]) == 2
    assert "unknown backend 'gpt:x'" in capsys.readouterr().err


def test_paired_arms_continue_from_the_same_first_games(tmp_path):
    """An arm paired with another replays its round-1 games: the arms differ only by feedback."""
    base = ExperimentConfig(runs=6, rounds=4, feedback="none", seed=11)
    none = run_experiment(base, tmp_path / "none")
    ai = run_experiment(base.model_copy(update={"feedback": "ai", "paired_with": str(tmp_path / "none")}),
                        tmp_path / "ai")
    for a, b in zip(none, ai, strict=True):
        assert a["rounds"][0] == {**b["rounds"][0], "feedback": a["rounds"][0]["feedback"]}  # the same first game
    later = [(a["rounds"][1]["price"], b["rounds"][1]["price"]) for a, b in zip(none, ai, strict=True)
             if len(a["rounds"]) > 1 and len(b["rounds"]) > 1]
    assert later and all(p_ai > p_none for p_none, p_ai in later)  # then the critic's advice moves the price


def test_paired_with_needs_the_same_first_games(tmp_path):
    run_experiment(ExperimentConfig(runs=2, rounds=2, seed=1), tmp_path / "a")
    other_seed = ExperimentConfig(runs=2, rounds=2, seed=2, paired_with=str(tmp_path / "a"))
    with pytest.raises(FeedlearnError, match=r"paired_with needs the same seed \(there 1, here 2\)"):
        run_experiment(other_seed, tmp_path / "b")
    more_runs = ExperimentConfig(runs=3, rounds=2, seed=1, paired_with=str(tmp_path / "a"))
    with pytest.raises(FeedlearnError, match=r"paired_with has no run 2"):
        run_experiment(more_runs, tmp_path / "c")
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()  # refused before any write
    with pytest.raises(FeedlearnError, match="no config.json"):
        run_experiment(ExperimentConfig(runs=1, paired_with=str(tmp_path / "nowhere")), tmp_path / "d")


BEFORE_REGISTRY = Path(__file__).parent / "data" / "run-before-backend-registry"  # written by the code of 45e3abf


def test_a_run_folder_written_before_scripted_players_were_backends_resumes_and_pairs(tmp_path):
    """Its config.json names the scripted players' options ``scripted_seller``/``scripted_buyer``; they are read
    as ``seller_options``/``buyer_options``, and the new code plays the very games the old one wrote."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(BEFORE_REGISTRY, old)
    written = (old / "runs.jsonl").read_bytes()
    options = {"step": 1.5, "jitter": 0.25}
    config = ExperimentConfig(runs=3, rounds=2, feedback="ai", seed=5, seller_options=options)
    resumed = run_experiment(config, old, resume=True)
    assert (old / "runs.jsonl").read_bytes().startswith(written)  # the old runs kept, byte for byte
    fresh = run_experiment(config, tmp_path / "fresh")
    assert resumed == fresh and fresh[0]["players"]["seller"]["step"] == 1.56  # the same numbers as before
    assert json.loads((old / "config.json").read_text())["seller_options"] == options
    # an experiment file of then (the old name) is the same experiment
    legacy = ExperimentConfig(runs=3, rounds=2, feedback="ai", seed=5, scripted_seller=options)
    assert legacy.seller_options == options and "scripted_seller" not in legacy.model_dump()
    with pytest.raises(FeedlearnError, match=r"config.json: seller_options was \{'step': 1.5, 'jitter': 0.25\}, now \{\}"):
        run_experiment(ExperimentConfig(runs=3, rounds=2, feedback="ai", seed=5), tmp_path / "fresh", resume=True)
    # pairing with the old folder replays its first games
    paired = run_experiment(ExperimentConfig(runs=2, rounds=2, feedback="none", seed=5, paired_with=str(BEFORE_REGISTRY)),
                            tmp_path / "paired")
    assert [r["rounds"][0]["game"] for r in paired] == [r["rounds"][0]["game"] for r in fresh[:2]]


def test_old_scripted_settings_never_reach_an_llm_player():
    """``scripted_seller`` applied to scripted sellers only: with an LLM seller it was ignored, and still is."""
    config = ExperimentConfig(seller="openai:m@http://127.0.0.1:9/v1", scripted_seller={"step": 3},
                              scripted_buyer={"step": 4})
    assert config.seller_options == {} and config.buyer_options == {"step": 4}
