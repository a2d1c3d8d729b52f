"""DeepSpeed config writer: exact sections for ZeRO++ on/off, per-switch overrides, validation, atomic file."""

from __future__ import annotations

import json

import pytest

from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.deepspeed import deepspeed_config, write_deepspeed_config

# The stage-3 settings every config carries, whatever the ZeRO++ switches say.
BASE_ZERO = {
    "stage": 3,
    "reduce_scatter": True,
    "overlap_comm": True,
    "contiguous_gradients": True,
    "reduce_bucket_size": 500_000_000,
    "stage3_prefetch_bucket_size": 50_000_000,
    "stage3_param_persistence_threshold": 100_000,
    "stage3_max_live_parameters": 1_000_000_000,
    "stage3_max_reuse_distance": 1_000_000_000,
    "sub_group_size": 1_000_000_000,
    "stage3_gather_16bit_weights_on_model_save": True,
}


def zeropp_keys(qwz: bool, hpz_size: int, qgz: bool) -> dict:
    return {"zero_quantized_weights": qwz, "zero_hpz_partition_size": hpz_size, "zero_quantized_gradients": qgz}


def test_zeropp_on_is_the_whole_expected_config():
    assert deepspeed_config() == {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": 1.0,
        "bf16": {"enabled": True},
        "fp16": {"enabled": False},
        "zero_optimization": {**BASE_ZERO, **zeropp_keys(True, 8, True)},
    }


def test_zeropp_off_is_plain_zero3():
    config = deepspeed_config(zeropp=False, ranks_per_node=4, micro_batch_size=2, grad_accum=16)
    assert config["zero_optimization"] == {**BASE_ZERO, **zeropp_keys(False, 1, False)}
    assert config["train_micro_batch_size_per_gpu"] == 2
    assert config["gradient_accumulation_steps"] == 16
    assert "train_batch_size" not in config  # DeepSpeed infers it from the world size


def test_hpz_partition_is_ranks_per_node():
    assert deepspeed_config(ranks_per_node=4)["zero_optimization"]["zero_hpz_partition_size"] == 4


@pytest.mark.parametrize(
    ("zeropp", "switches", "expected"),
    [
        (True, {"qwz": False}, (False, 8, True)),
        (True, {"hpz": False}, (True, 1, True)),
        (True, {"qgz": False}, (True, 8, False)),
        (False, {"qwz": True}, (True, 1, False)),
        (False, {"hpz": True}, (False, 8, False)),
        (False, {"qgz": True}, (False, 1, True)),
        (True, {"qwz": None, "hpz": None, "qgz": None}, (True, 8, True)),
        (False, {"qwz": True, "hpz": True, "qgz": True}, (True, 8, True)),
    ],
)
def test_individual_switches_override_zeropp(zeropp, switches, expected):
    zero = deepspeed_config(zeropp=zeropp, **switches)["zero_optimization"]
    assert zero == {**BASE_ZERO, **zeropp_keys(*expected)}


def test_one_rank_per_node_turns_implied_hpz_off():
    assert deepspeed_config(ranks_per_node=1)["zero_optimization"]["zero_hpz_partition_size"] == 1


def test_fp16_section_uses_dynamic_loss_scaling():
    config = deepspeed_config(bf16=False)
    assert config["bf16"] == {"enabled": False}
    assert config["fp16"] == {
        "enabled": True,
        "loss_scale": 0,
        "initial_scale_power": 16,
        "loss_scale_window": 1000,
        "hysteresis": 2,
        "min_loss_scale": 1,
    }


def test_offload_adds_pinned_cpu_sections_and_nothing_else():
    with_offload = deepspeed_config(offload=True)["zero_optimization"]
    without = deepspeed_config()["zero_optimization"]
    assert with_offload.pop("offload_param") == {"device": "cpu", "pin_memory": True}
    assert with_offload.pop("offload_optimizer") == {"device": "cpu", "pin_memory": True}
    assert with_offload == without


def test_configs_are_independent_objects():
    first = deepspeed_config(bf16=False)
    first["fp16"]["loss_scale"] = 128
    first["zero_optimization"]["reduce_bucket_size"] = 1
    second = deepspeed_config(bf16=False)
    assert second["fp16"]["loss_scale"] == 0
    assert second["zero_optimization"]["reduce_bucket_size"] == 500_000_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ranks_per_node": 0}, "ranks_per_node must be an integer >= 1"),
        ({"ranks_per_node": -8}, "ranks_per_node must be an integer >= 1"),
        ({"ranks_per_node": 8.0}, "ranks_per_node must be an integer >= 1"),
        ({"ranks_per_node": True}, "ranks_per_node must be an integer >= 1"),
        ({"micro_batch_size": 0}, "micro_batch_size must be an integer >= 1"),
        ({"grad_accum": 0}, "grad_accum must be an integer >= 1"),
        ({"grad_accum": "4"}, "grad_accum must be an integer >= 1"),
        ({"zeropp": 1}, "zeropp must be True or False"),
        ({"bf16": None}, "bf16 must be True or False"),
        ({"offload": "yes"}, "offload must be True or False"),
        ({"qwz": 0}, "qwz must be True, False or None"),
        ({"hpz": "on"}, "hpz must be True, False or None"),
        ({"qgz": 1}, "qgz must be True, False or None"),
        ({"hpz": True, "ranks_per_node": 1}, "hpz needs ranks_per_node > 1"),
    ],
)
def test_bad_input_is_a_one_line_feedlearn_error(kwargs, message):
    with pytest.raises(FeedlearnError, match=message) as info:
        deepspeed_config(**kwargs)
    assert "\n" not in str(info.value)


def test_written_file_round_trips_through_json(tmp_path):
    path = write_deepspeed_config(tmp_path / "ds" / "zeropp.json", ranks_per_node=4, grad_accum=8, offload=True)
    assert path == tmp_path / "ds" / "zeropp.json"
    text = path.read_text()
    assert text.endswith("\n") and text.startswith('{\n  "')  # indented, one key per line
    assert json.loads(text) == deepspeed_config(ranks_per_node=4, grad_accum=8, offload=True)


def test_file_is_written_atomically(tmp_path, monkeypatch):
    import feedlearn.dist.deepspeed as module

    calls = []
    real = module.atomic_write_text

    def recording(path, text):
        calls.append(path)
        real(path, text)

    monkeypatch.setattr(module, "atomic_write_text", recording)
    path = tmp_path / "ds.json"
    path.write_text("old")
    write_deepspeed_config(path)
    assert calls == [path]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds.json"]  # no temporary file left behind
    assert json.loads(path.read_text()) == deepspeed_config()


def test_bad_input_leaves_existing_file_untouched(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text("old")
    with pytest.raises(FeedlearnError):
        write_deepspeed_config(path, ranks_per_node=0)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["ds.json"]
