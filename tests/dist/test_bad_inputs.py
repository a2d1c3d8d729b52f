"""Bad input to ``feedlearn dist``: one line naming the option, before any process starts."""

from __future__ import annotations

import pytest

import feedlearn.dist.bench as bench
from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.launch import launch
from tests.dist import workers


@pytest.fixture
def no_launch(monkeypatch):
    """Fail the test if a bad option gets as far as starting workers."""

    def refuse(*args, **kwargs):
        raise AssertionError("workers were started for a bad option")

    monkeypatch.setattr(bench, "launch", refuse)


@pytest.mark.parametrize(("options", "message"), [
    (["--nproc", "0"], "--nproc must be between 1 and 256, got 0"),
    (["--nproc", "-2"], "--nproc must be between 1 and 256, got -2"),
    (["--nproc", "100000"], "--nproc must be between 1 and 256"),
    (["--steps", "0"], "dist bench: --steps: Input should be greater than 0"),
    (["--block-size", "0"], "dist bench: --block-size: Input should be greater than 0"),
    (["--grad-block-size", "0"], "dist bench: --grad-block-size: Input should be greater than 0"),
    (["--grad-block-size", "7"], "dist bench: --grad-block-size: must be even"),
    (["--ranks-per-node", "0"], "dist bench: --ranks-per-node: Input should be greater than 0"),
    (["--ranks-per-node", "3"], "--ranks-per-node 3: world size 4 is not a multiple of ranks per node 3"),
    (["--timeout", "nan"], "--timeout must be a positive number of seconds, got nan"),
    (["--timeout", "-1"], "--timeout must be a positive number of seconds, got -1.0"),
    (["--intra-gbps", "0"], "--intra-gbps must be a positive bandwidth in Gb/s, got 0.0"),
    (["--cross-gbps", "inf"], "--cross-gbps must be a positive bandwidth in Gb/s, got inf"),
    (["--strategy", "zero4"], "dist bench: --strategy: unknown strategy 'zero4'"),
    (["--dtype", "fp8"], "dist bench: --dtype: Input should be 'float32' or 'bfloat16'"),
    (["--device", "tpu"], "dist bench: --device: Input should be 'auto', 'cuda' or 'cpu'"),
    (["--model", "huge"], "unknown model 'huge'"),
])
def test_bad_bench_options_are_one_line_before_launch(capsys, no_launch, options, message):
    code = main(["dist", "bench", *options])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""


def test_cuda_without_gpus_fails_before_launch(capsys, no_launch, monkeypatch):
    import feedlearn.dist.device as device

    monkeypatch.setattr(device, "visible_gpus", lambda: 0)
    assert main(["dist", "bench", "--device", "cuda", "--nproc", "2"]) == 2
    assert capsys.readouterr().err == "error: --device cuda: 2 ranks on this node need one GPU each, 0 visible\n"


def test_json_into_a_directory_or_under_a_file_fails_before_launch(capsys, no_launch, tmp_path):
    code = main(["dist", "bench", "--json", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: --json {tmp_path}: is a folder; give a file name\n"
    a_file = tmp_path / "plain.txt"
    a_file.write_text("keep me")
    code = main(["dist", "bench", "--json", str(a_file / "out.json")])
    err = capsys.readouterr().err
    assert code == 2 and f"{a_file} is not a folder" in err and a_file.read_text() == "keep me"


def test_launch_refuses_bad_counts_directly():
    with pytest.raises(FeedlearnError, match="--nproc must be between 1 and 256, got 0"):
        launch(workers.fail_on_rank_one, nproc=0)
    with pytest.raises(FeedlearnError, match="--timeout must be a positive number of seconds, got inf"):
        launch(workers.fail_on_rank_one, nproc=2, timeout_s=float("inf"))


def test_a_stopped_rank_ends_the_run_in_one_line(capfd):
    """A rank stopped (not killed) leaves the others waiting: they time out, the run fails with one
    line naming a rank, and none of the launcher's tracebacks reach the terminal."""
    with pytest.raises(FeedlearnError, match=r"rank 0 failed: .*[Tt]imed out"):
        launch(workers.stop_rank_one, nproc=2, timeout_s=3)
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
