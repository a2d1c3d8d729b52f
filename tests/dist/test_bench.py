"""``feedlearn dist bench`` / ``deepspeed-config`` end to end, and the summary arithmetic by hand."""

from __future__ import annotations

import json

import pytest

from feedlearn.cli import main
from feedlearn.dist.bench import summary_rows
from feedlearn.dist.device import placement


def test_summary_rows_by_hand():
    step = {"total": {"intra": 100, "cross": 400}}
    small = {"total": {"intra": 100, "cross": 100}}
    result = {"strategies": {
        "zero3": {"losses": [3.0, 2.0], "bytes": {"0": [step, step], "1": [step, step]}, "step_seconds": [0.1, 0.3]},
        "zeropp": {"losses": [3.0, 2.2], "bytes": {"0": [small, small], "1": [small, small]}, "step_seconds": [0.2, 0.2]},
    }}
    zero3, zeropp = summary_rows(result, intra_gbps=8e-9, cross_gbps=8e-9)  # 1 byte per second
    assert zero3["cross_vs_zero3"] == 1.0 and zeropp["cross_vs_zero3"] == 0.25
    assert zeropp["final_loss"] == 2.2 and zeropp["loss_vs_zero3"] == pytest.approx(0.1)
    assert zero3["projected_seconds"] == pytest.approx(0.2 + 100 + 400)  # median step + bytes at 1 B/s


def test_bench_cli_writes_losses_and_bytes_per_rank(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["dist", "bench", "--nproc", "4", "--ranks-per-node", "2", "--steps", "2", "--strategy",
                 "zero3,zeropp", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    # what device.placement gives each of 4 local ranks here: gloo and the CPU on a machine with < 4 GPUs
    where = [placement(env={"LOCAL_RANK": str(r), "LOCAL_WORLD_SIZE": "4"}) for r in range(4)]
    assert result["backend"] == where[0].backend and result["devices"] == [str(w.device) for w in where]
    assert set(result["strategies"]) == {"zero3", "zeropp"}
    zero3, zeropp = result["strategies"]["zero3"], result["strategies"]["zeropp"]
    assert sorted(zero3["bytes"]) == ["0", "1", "2", "3"] and len(zero3["losses"]) == 2
    assert zeropp["bytes"]["3"][1]["total"]["cross"] < zero3["bytes"]["3"][1]["total"]["cross"]
    assert "cross/zero3" in capsys.readouterr().out


def test_bench_cli_rejects_unknown_strategy_and_model(capsys):
    assert main(["dist", "bench", "--strategy", "zero2"]) == 2
    assert "unknown strategy 'zero2'" in capsys.readouterr().err
    assert main(["dist", "bench", "--model", "huge"]) == 2


def test_deepspeed_config_cli(tmp_path):
    out = tmp_path / "ds.json"
    assert main(["dist", "deepspeed-config", str(out), "--ranks-per-node", "4"]) == 0
    zero = json.loads(out.read_text())["zero_optimization"]
    assert zero["stage"] == 3 and zero["zero_hpz_partition_size"] == 4
    assert zero["zero_quantized_weights"] and zero["zero_quantized_gradients"] and zero["reduce_scatter"]
