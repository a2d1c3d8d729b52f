"""Issue 14, tune part A: a run folder's checkpoints, reruns and writers (``feedlearn.tune.run_state``).

Each bad case gets a test: a planted pickle in a checkpoint is refused unread (PPO's own state and
the Trainer's files), a rerun with other settings or data is refused naming the field, a finished
stage is not retrained, a stage killed before summary.json is finished without extra steps (also
PPO), and a second writer into the same output_dir is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from feedlearn.cli import main
from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune import trainer as trainer_module
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.run_state import exclusive, fingerprint
from feedlearn.tune.stages import STAGES, PPOConfig, PretrainConfig, SFTConfig, run_stage
from feedlearn.tune.stages.ppo import PPO, _load_checkpoint
from tests.tune.conftest import sort_conversations, sort_prompts


class PlantedCode:
    """A pickle that, when unpickled, creates ``marker`` — what an attacker's checkpoint file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def plant(path: Path, marker: Path) -> None:
    torch.save({"step": 1, "payload": PlantedCode(marker)}, path)


@pytest.fixture()
def sft_data(tmp_path):
    return save_dataset(TuneDataset("conversation", sort_conversations()), tmp_path / "sft.json")


def sft(tiny_dir, data, out, **kw):
    return load_config(SFTConfig, None, {"model": str(tiny_dir), "data": str(data), "output_dir": str(out),
                                         "max_steps": 2, "batch_size": 4, "save_steps": 1, "logging_steps": 1, **kw})


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (but the lock) and its bytes: to show a refused run changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def log_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()
            if "loss" in json.loads(line) or "score" in json.loads(line)]


def one_error_line(capsys, *parts: str) -> str:
    """The CLI's one ``error:`` line (libraries may log other lines to stderr before it)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and err.endswith(lines[0] + "\n"), err
    assert "Traceback" not in err and "internal error" not in err
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def killed(*args, **kwargs):
    """Stands in for summary.json's writer: the process dies just before the run is marked finished."""
    raise KeyboardInterrupt


class StopAt:
    """A TrainerCallback that raises KeyboardInterrupt after ``step`` (its checkpoint is saved first)."""

    def __new__(cls, step: int):
        from transformers import TrainerCallback

        class _Stop(TrainerCallback):
            def on_save(self, args, state, control, **kwargs):
                if state.global_step == step:
                    raise KeyboardInterrupt

        return _Stop()


def interrupted_sft(tiny_dir, data, out, monkeypatch, at: int = 1) -> None:
    """An SFT run killed right after its checkpoint at step ``at``."""
    real = trainer_module.train
    monkeypatch.setattr("feedlearn.tune.stage.train",
                        lambda *a, **k: real(*a, **k, extra_callbacks=[StopAt(at)]))
    with pytest.raises(KeyboardInterrupt):
        run_stage(STAGES["sft"](), sft(tiny_dir, data, out))
    monkeypatch.undo()


# --- 1. no code execution on resume ---------------------------------------------------------------


def test_planted_ppo_state_is_refused_unread(tmp_path):
    checkpoint, marker = tmp_path / "checkpoint-3", tmp_path / "pwned"
    checkpoint.mkdir()
    plant(checkpoint / "ppo_state.pt", marker)
    with pytest.raises(FeedlearnError) as err:
        _load_checkpoint(checkpoint, None, None, {})
    assert str(err.value) == (f"{checkpoint / 'ppo_state.pt'}: refusing to load: not a checkpoint of tensors and plain "
                              "values (Unsupported global: GLOBAL io.open was not an allowed global by default)")
    assert "\n" not in str(err.value)
    assert not marker.exists()
    # the same file does run its code when unpickled without weights_only: the test above has teeth
    torch.load(checkpoint / "ppo_state.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"not a zip nor a pickle", r"refusing to load: not a checkpoint of tensors and plain values \(Unsupported op"),
    ("tensor-dict", r"not a PPO checkpoint \(expected the keys step, rng"),
])
def test_broken_ppo_state_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "checkpoint-1" / "ppo_state.pt"
    path.parent.mkdir()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(FeedlearnError, match=message) as err:
        _load_checkpoint(path.parent, None, None, {})
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_planted_trainer_rng_state_is_refused_unread(tiny_dir, sft_data, tmp_path, monkeypatch, capsys):
    """transformers loads rng_state.pth / optimizer.pt with weights_only=True: a pickle there is refused."""
    out, marker = tmp_path / "out", tmp_path / "pwned"
    interrupted_sft(tiny_dir, sft_data, out, monkeypatch)
    plant(out / "checkpoint-1" / "rng_state.pth", marker)
    before = snapshot(out)
    args = ["tune", "train", "sft", f"model={tiny_dir}", f"data={sft_data}", f"output_dir={out}", "max_steps=2",
            "batch_size=4", "save_steps=1", "logging_steps=1"]
    assert main(args) == 2
    one_error_line(capsys, f"{out / 'checkpoint-1'}: refusing to load: not a checkpoint of tensors and plain values "
                           "(Unsupported global: GLOBAL io.open")
    assert not marker.exists()
    assert snapshot(out) == before  # nothing trained, nothing saved


# --- 2. a rerun with other settings is refused ------------------------------------------------------


@pytest.mark.parametrize(("change", "message"), [
    ({"lr": 2e-3}, "lr was 0.001, now 0.002"),
    ({"batch_size": 2}, "batch_size was 4, now 2"),
    ({"max_steps": 3}, "max_steps was 2, now 3"),
    ({"seed": 1}, "seed was 0, now 1"),
])
def test_rerun_with_other_settings_is_refused(tiny_dir, sft_data, tmp_path, monkeypatch, change, message):
    out = tmp_path / "out"
    interrupted_sft(tiny_dir, sft_data, out, monkeypatch)
    before = snapshot(out)
    with pytest.raises(FeedlearnError) as err:
        run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out, **change))
    assert str(err.value) == (f"{out / 'run_config.json'}: {message}; use a new output_dir, or delete this one to "
                              "start over")
    assert snapshot(out) == before


def test_rerun_with_changed_data_is_refused(tiny_dir, sft_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    interrupted_sft(tiny_dir, sft_data, out, monkeypatch)
    save_dataset(TuneDataset("conversation", sort_conversations()[:20]), tmp_path / "other.json")
    shutil.copy(tmp_path / "other.json", sft_data)  # same path, other contents
    before = snapshot(out)
    with pytest.raises(FeedlearnError, match=rf"run_config\.json: data {re.escape(str(sft_data))} changed since"):
        run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
    assert snapshot(out) == before


def test_rerun_with_the_same_settings_resumes_and_logging_may_change(tiny_dir, sft_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    interrupted_sft(tiny_dir, sft_data, out, monkeypatch)
    os.utime(sft_data, (1, 1))  # touched, not changed
    summary = run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out, logging_steps=5, save_steps=2))
    assert summary["resumed_from"].endswith("checkpoint-1") and summary["steps"] == 2
    assert "already_finished" not in summary


def test_rerun_of_another_stage_is_refused(tiny_dir, sft_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    interrupted_sft(tiny_dir, sft_data, out, monkeypatch)
    text = save_dataset(TuneDataset("text_only", [{"text": "a b c d e f g"}]), tmp_path / "t.json")
    config = load_config(PretrainConfig, None, {"model": str(tiny_dir), "data": str(text), "output_dir": str(out)})
    with pytest.raises(FeedlearnError, match="run_config.json: this folder holds a 'sft' run, not 'pretrain'"):
        run_stage(STAGES["pretrain"](), config)


def test_folder_with_outputs_we_did_not_write_is_refused(tiny_dir, sft_data, tmp_path):
    out = tmp_path / "mine"
    (out / "final").mkdir(parents=True)
    (out / "final" / "notes.txt").write_text("the user's own files\n")
    (out / "summary.json").write_text("{}\n")
    before = snapshot(out)
    with pytest.raises(FeedlearnError, match=f"^{re.escape(str(out))}: holds final, summary.json but no run_config"):
        run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
    assert snapshot(out) == before and not (out / "run_config.json").exists()


def test_unreadable_run_config_is_a_one_line_error(tiny_dir, sft_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run_config.json").write_text("{not json")
    with pytest.raises(FeedlearnError, match=r"run_config\.json: cannot read the run's settings \(JSONDecodeError"):
        run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))


def test_cli_rerun_with_other_settings(tiny_dir, sft_data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    interrupted_sft(tiny_dir, sft_data, out, monkeypatch)
    args = ["tune", "train", "sft", f"model={tiny_dir}", f"data={sft_data}", f"output_dir={out}", "max_steps=2",
            "batch_size=4", "save_steps=1", "lr=2e-3"]
    assert main(args) == 2
    one_error_line(capsys, f"{out / 'run_config.json'}: lr was 0.001, now 0.002; use a new output_dir")


# --- 3. a finished stage is not retrained -----------------------------------------------------------


def test_rerun_of_a_finished_stage_trains_nothing(tiny_dir, sft_data, tmp_path):
    out = tmp_path / "out"
    first = run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
    before = snapshot(out)
    for _ in range(2):  # was 2 -> 3 -> 4 steps
        again = run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
        assert again["already_finished"] is True and again["steps"] == 2
        assert {k: v for k, v in again.items() if k != "already_finished"} == json.loads((out / "summary.json").read_text())
    assert snapshot(out) == before  # same weights, same log, no checkpoint-3
    assert first["steps"] == 2 and log_steps(out) == [1, 2]


def test_cli_rerun_of_a_finished_stage_says_so(tiny_dir, sft_data, tmp_path, capsys):
    args = ["tune", "train", "sft", f"model={tiny_dir}", f"data={sft_data}", f"output_dir={tmp_path / 'c'}",
            "max_steps=2", "batch_size=4"]
    assert main(args) == 0
    assert "sft: 2 steps, train loss" in capsys.readouterr().out
    assert main(args) == 0
    assert "sft: 2 steps (already finished: nothing trained), train loss" in capsys.readouterr().out
    assert log_steps(tmp_path / "c") == []  # logging_steps=10: nothing logged, and no third step either
    assert sorted(p.name for p in (tmp_path / "c").glob("checkpoint-*")) == ["checkpoint-2"]


# --- 4. a stage killed before summary.json is finished by the rerun, without extra steps ------------


def test_killed_before_summary_is_finished_without_extra_steps(tiny_dir, sft_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr("feedlearn.tune.stage.write_summary", killed)
    with pytest.raises(KeyboardInterrupt):
        run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
    monkeypatch.undo()
    assert not (out / "summary.json").exists()
    trained = weights(out / "final")
    summary = run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
    assert summary["steps"] == 2 and summary["resumed_from"].endswith("checkpoint-2")
    assert "already_finished" not in summary and (out / "summary.json").exists()
    assert same_weights(weights(out / "final"), trained)
    assert log_steps(out) == [1, 2]  # no third step
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    assert summary["train_loss"] == pytest.approx(sum(json.loads(line)["loss"] for line in
                                                      (out / "log.jsonl").read_text().splitlines()[:2]) / 2)


def test_killed_after_the_last_checkpoint_before_the_final_model(tiny_dir, sft_data, tmp_path, monkeypatch):
    whole = run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, tmp_path / "whole"))
    out = tmp_path / "out"
    interrupted_sft(tiny_dir, sft_data, out, monkeypatch, at=2)  # checkpoint-2 saved, then killed
    assert not (out / "final").exists()
    summary = run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
    assert summary["steps"] == 2 and log_steps(out) == [1, 2]
    assert same_weights(weights(out / "final"), weights(Path(whole["model"])))


# --- 5. PPO's own checkpoints follow the same rules ------------------------------------------------


def ppo(tiny_dir, reward_dir, data, out, **kw):
    return load_config(PPOConfig, None, {"model": str(tiny_dir), "data": str(data), "reward_model": reward_dir,
                                         "output_dir": str(out), "max_steps": 2, "batch_size": 4, "max_new_tokens": 4,
                                         "save_steps": 1, "logging_steps": 1, **kw})


def test_ppo_reruns_resume_refuse_and_finish(tiny_dir, reward_dir, tmp_path, monkeypatch):
    data, out, marker = sort_prompts(tmp_path), tmp_path / "ppo", tmp_path / "pwned"
    monkeypatch.setattr("feedlearn.tune.stages.ppo.write_summary", killed)
    with pytest.raises(KeyboardInterrupt):  # killed between the final model and summary.json
        run_stage(PPO(), ppo(tiny_dir, reward_dir, data, out))
    monkeypatch.undo()
    trained, log = weights(out / "final"), (out / "log.jsonl").read_text()
    state = torch.load(out / "checkpoint-2" / "ppo_state.pt", weights_only=True)  # plain tensors and values
    assert state["step"] == 2 and state["rng"].dtype == torch.uint8

    # 2. other settings: refused, nothing touched
    before = snapshot(out)
    with pytest.raises(FeedlearnError, match=r"run_config\.json: kl_coef was 0\.1, now 0\.2; use a new output_dir"):
        run_stage(PPO(), ppo(tiny_dir, reward_dir, data, out, kl_coef=0.2))
    assert snapshot(out) == before

    # 1. a planted pickle in the last checkpoint is refused unread
    shutil.copy(out / "checkpoint-2" / "ppo_state.pt", tmp_path / "saved.pt")
    plant(out / "checkpoint-2" / "ppo_state.pt", marker)
    with pytest.raises(FeedlearnError, match="checkpoint-2/ppo_state.pt: refusing to load"):
        run_stage(PPO(), ppo(tiny_dir, reward_dir, data, out))
    assert not marker.exists()
    shutil.copy(tmp_path / "saved.pt", out / "checkpoint-2" / "ppo_state.pt")

    # 4. same settings: finished from checkpoint-2 without another step
    summary = run_stage(PPO(), ppo(tiny_dir, reward_dir, data, out))
    assert summary["steps"] == 2 and summary["resumed_from"].endswith("checkpoint-2")
    assert summary["first_score"] is not None and summary["tokens"] > 0  # carried over in the checkpoint
    assert (out / "log.jsonl").read_text() == log and same_weights(weights(out / "final"), trained)

    # 3. finished: a rerun trains nothing
    before = snapshot(out)
    again = run_stage(PPO(), ppo(tiny_dir, reward_dir, data, out))
    assert again["already_finished"] is True and again["steps"] == 2
    assert snapshot(out) == before


# --- 6. one writer per run folder ----------------------------------------------------------------


def test_second_writer_is_refused_while_the_lock_is_held(tiny_dir, sft_data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with (out / ".lock").open("w") as holder:  # what a running training holds
        fcntl.flock(holder, fcntl.LOCK_EX)
        holder.write("4242\n")
        holder.flush()
        with pytest.raises(FeedlearnError) as err:
            run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
        assert str(err.value) == (f"{out / '.lock'}: another training (pid 4242) is writing to {out}; wait for it to "
                                  "finish or use another output_dir")
        assert main(["tune", "train", "sft", f"model={tiny_dir}", f"data={sft_data}", f"output_dir={out}"]) == 2
        one_error_line(capsys, f"{out / '.lock'}: another training (pid 4242)")
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # the refused runs wrote nothing


def test_lock_between_processes_and_released_when_the_holder_dies(tmp_path):
    out = tmp_path / "out"
    code = ("import sys; from pathlib import Path; from feedlearn.tune.run_state import exclusive\n"
            "with exclusive(Path(sys.argv[1])):\n    print('locked', flush=True); sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).parents[2])
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FeedlearnError, match=rf"\.lock: another training \(pid {holder.pid}\) is writing"):
            with exclusive(out):
                pass
    finally:
        holder.kill()  # killed, not closed cleanly: the kernel still drops the lock
        holder.wait()
    with exclusive(out):
        assert (out / ".lock").read_text() == f"{os.getpid()}\n"


def test_lock_file_symlink_is_not_followed(tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("keep me\n")
    (out / ".lock").symlink_to(victim)
    with pytest.raises(FeedlearnError, match=r"\.lock: cannot open the run's lock file"):
        with exclusive(out):
            pass
    assert victim.read_text() == "keep me\n"


def test_fingerprint_follows_contents_not_mtime(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.json").write_text("1")
    first = fingerprint(folder)
    os.utime(folder / "a.json", (5, 5))
    assert fingerprint(folder) == first
    (folder / "a.json").write_text("2")
    assert fingerprint(folder) != first


def test_fingerprint_skips_the_runs_own_output_dir(tmp_path):
    """model=. with output_dir=./out: the run's own outputs must not count as a changed model."""
    (tmp_path / "config.json").write_text("{}")
    first = fingerprint(tmp_path, skip=tmp_path / "out")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "log.jsonl").write_text("{}\n")
    assert fingerprint(tmp_path, skip=tmp_path / "out") == first
    assert fingerprint(tmp_path) != first


def test_a_deleted_input_is_refused(tiny_dir, sft_data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    interrupted_sft(tiny_dir, sft_data, out, monkeypatch)
    config = json.loads((out / "run_config.json").read_text())
    assert set(config["inputs"]) == {"model", "data"} and config["stage"] == "sft"
    assert "logging_steps" not in config["settings"] and config["settings"]["lr"] == 0.001
    sft_data.unlink()
    with pytest.raises(FeedlearnError, match=rf"run_config\.json: data {re.escape(str(sft_data))} is gone since"):
        run_stage(STAGES["sft"](), sft(tiny_dir, sft_data, out))
