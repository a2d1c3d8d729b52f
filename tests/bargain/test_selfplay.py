"""The self-play recipes: every shipped one loads, and each method's data and options fit its tune stage;
the loop itself, with a stand-in for the model and its training (the tiny model's own run: the demo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedlearn.bargain import selfplay
from feedlearn.bargain.backends import BACKENDS
from feedlearn.bargain.backends.scripted import ScriptedPlayer, ScriptedSpec, last_price
from feedlearn.bargain.selfplay import METHOD_DATA, SelfPlayConfig, run_selfplay
from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import folder
from feedlearn.tune.scorers import make_scorer
from feedlearn.tune.stages import STAGES

RECIPES = sorted(folder("selfplay").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_selfplay_recipes_fit_their_stages(path):
    config = load_config(SelfPlayConfig, path)
    data_file, extra = METHOD_DATA[config.method]
    options = {**extra, **config.train, "model": "m", "data": data_file, "output_dir": "o"}
    STAGES[config.method].config_class.model_validate(options)  # every option is one the stage has
    STAGES["sft"].config_class.model_validate({**config.teach, "model": "m", "data": "d", "output_dir": "o"})


def test_every_method_is_a_tune_stage_that_takes_its_exported_data(tmp_path):
    assert set(METHOD_DATA) <= set(STAGES)
    for method, (data_file, _) in METHOD_DATA.items():
        kind = "paired_conversation" if data_file == "paired.json" else "conversation"
        assert kind in STAGES[method].data_types, method
    (tmp_path / "bad.yaml").write_text("method: ppo\n")
    with pytest.raises(FeedlearnError, match="bad.yaml.*method"):
        load_config(SelfPlayConfig, tmp_path / "bad.yaml")


class HeldPrice(ScriptedPlayer):
    """``local:DIR`` in these tests: a seller that asks DIR/price.json's price at once and holds it — a
    stand-in for a tuned model, so the loop (play -> export -> train -> evaluate) runs without torch."""

    @classmethod
    def from_spec(cls, spec, **options):
        price = json.loads((Path(spec.partition(":")[2]) / "price.json").read_text())
        return cls("seller", ScriptedSpec(step=20 - price, jitter=0, limit=price))


def _fake_train(stage, options, out):
    """``sft`` learns the mean deal price of its games; ``raft`` the price among the held one and $1 above or
    below whose reply, given at each exported prompt, the game reward scores best on average (best-of-K); a
    finished run is returned as it is, as ``tune``'s ``run_stage`` does."""
    if (out / "final").exists():
        return str(out / "final")
    data = json.loads(Path(options["data"]).read_text())["instances"]
    if stage == "sft":
        prices = [last_price(c["messages"][-1]["content"]) for c in data]
        price = round(sum(prices) / len(prices), 2)
    else:
        assert stage == "raft" and options["reward_model"] == "game:seller"
        held = json.loads((Path(options["model"]) / "price.json").read_text())
        reward = make_scorer(options["reward_model"])
        prompts = [[{"role": "system", "content": p["system"]}, *p["messages"][:-1]] for p in data]

        def score(candidate):
            reply = {"role": "assistant", "content": f"I can do ${candidate:g}."}
            return sum(reward.score([p + [reply] for p in prompts])) / len(prompts)

        price = max((held - 1, held, held + 1), key=score)
    (out / "final").mkdir(parents=True)
    (out / "final" / "price.json").write_text(json.dumps(price))
    return str(out / "final")


def test_one_loop_iteration_raises_the_mean_price(tmp_path, monkeypatch):
    monkeypatch.setitem(BACKENDS, "local", HeldPrice)
    monkeypatch.setattr(selfplay, "_train", _fake_train)
    (tmp_path / "base").mkdir()
    config = SelfPlayConfig(base=str(tmp_path / "base"), teach_runs=16, teach_rounds=3, teach_from_rounds=1,
                            rounds=2, play_runs=4, eval_runs=8, icl_rounds=3)
    results = run_selfplay(config, tmp_path / "sp")
    names = [a["name"] for a in results["arms"]]
    assert names == ["scripted teacher", "untuned", "tuned round 1", "tuned round 2"]
    prices = [a["rounds"][0]["mean_price"] for a in results["arms"]]
    # the naive teacher's deals average $14.68: the untuned seller asks that; the game reward moves it $1 up a
    # round (the scripted buyer comes up to $18), every deal still made
    assert prices == pytest.approx([14.680625, 14.68, 15.68, 16.68])
    assert [a["rounds"][0]["success"] for a in results["arms"]] == [1.0] * 4
    # the stand-in heeds the critic as the scripted seller does (smaller steps): $15.38 after two lessons
    assert [r["mean_price"] for r in results["arms"][1]["rounds"]] == pytest.approx([14.68, 14.68, 15.37875])
    assert results["target"] == {"arm": "tuned round 2", "price": pytest.approx(16.68), "success": 1.0, "round": 3,
                                 "reference_price": pytest.approx(15.37875), "reference_success": 1.0, "met": True}
    assert json.loads((tmp_path / "sp" / "selfplay.json").read_text())["arms"] == results["arms"]
    # the same seed, the same result; a finished loop is not redone
    again = run_selfplay(config, tmp_path / "sp")
    assert again["arms"] == results["arms"]
    fresh = run_selfplay(config, tmp_path / "sp2")
    assert [a["rounds"] for a in fresh["arms"]] == [a["rounds"] for a in results["arms"]]


def test_the_chat_model_recipe_runs_lora_dpo_against_a_served_buyer_critic_and_moderator(tmp_path):
    # selfplay-qwen2.5-lora.yaml as shipped but for its sizes: a tiny seller (taught to speak first, as the
    # real model needs not) for Qwen, and a local server that answers like vLLM with a strict chat template
    # (400 on any history that does not alternate) for the served model
    from feedlearn.bargain.moderator import INSTRUCTIONS
    from tests.bargain.backends.servers import Server, strictly_alternating

    server = Server()
    server.strict = True
    shipped = load_config(SelfPlayConfig, folder("selfplay") / "selfplay-qwen2.5-lora.yaml")
    demo = load_config(SelfPlayConfig, folder("selfplay") / "selfplay-demo.yaml")  # its tiny seller and teaching
    served = f"openai:Qwen/Qwen2.5-7B-Instruct@{server.url}"
    assert {shipped.buyer, shipped.critic, shipped.moderator} == {served.replace(server.url, "http://localhost:8000/v1")}
    config = shipped.model_copy(update={
        "base": None, "tiny": demo.tiny, "teach_runs": 12, "teach_rounds": 1, "teach": demo.teach,
        "buyer": served, "critic": served, "moderator": served, "rounds": 1, "play_runs": 8, "eval_runs": 4,
        "icl_rounds": 2, "target_round": 2, "max_tokens": 16,
        "train": {**shipped.train, "max_steps": 2, "batch_size": 2, "grad_accum": 1, "dtype": "float32",
                  "max_length": 512}})
    results = run_selfplay(config, tmp_path / "sp")
    assert [a["name"] for a in results["arms"]] == ["scripted teacher", "untuned", "tuned round 1"]
    assert len(results["arms"][1]["rounds"]) == 2 and results["method"] == "dpo"
    assert (tmp_path / "sp" / "round-1" / "data" / "paired.json").exists()
    assert (tmp_path / "sp" / "round-1" / "dpo" / "summary.json").exists()
    asked = [r["messages"][0]["content"] for r in server.requests]
    assert any(s.startswith("You coach the seller") for s in asked) and any(s.startswith(INSTRUCTIONS) for s in asked)
    assert all(strictly_alternating(r["messages"]) for r in server.requests)  # none was refused
