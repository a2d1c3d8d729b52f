"""End to end through a real llama.cpp server (llama-cpp-python) with a model the test makes itself.

Skipped unless llama-cpp-python with its server extra is installed — ``pip install -e '.[llamacpp]'``
(it compiles llama.cpp, ~4 min on 2 cores). The test trains a tiny seller on the spot (init-tiny +
a few SFT steps: it learns to answer "I can do $14."), exports it to GGUF (``feedlearn tune
export-gguf``), checks llama.cpp computes transformers' logits from the file, then serves it with
``python -m llama_cpp.server`` on 127.0.0.1 (an ephemeral port) and plays the balloon game against
the scripted buyer through the OpenAI-compatible backend: greedy, the game is the one the same
model plays in-process (``local:DIR``), and it ends in a deal at $14.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

llama_cpp = pytest.importorskip("llama_cpp")
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's [server] extra is not installed")
pytest.importorskip("gguf")

from feedlearn.bargain.backends import make_backend  # noqa: E402
from feedlearn.bargain.backends.base import Params  # noqa: E402
from feedlearn.bargain.backends.scripted import RuleModerator, ScriptedNegotiator  # noqa: E402
from feedlearn.bargain.game import play, system_message  # noqa: E402
from feedlearn.bargain.scenario import Scenario  # noqa: E402

BALLOON = Scenario(max_exchanges=3)
REPLY = "I can do $14."
BUYER_LINES = ["Would you consider selling it for $10?", "How about $12?", "How about $11?", "Can you go lower?",
               "How about $13?", "That is too much for me."]


@pytest.fixture(scope="module")
def seller_model(tmp_path_factory):
    """A tiny seller tuned to say REPLY whatever the buyer says, and its GGUF export."""
    from feedlearn.common.config import load_config
    from feedlearn.tune.data import TuneDataset, save_dataset
    from feedlearn.tune.gguf_export import export_gguf
    from feedlearn.tune.stages import STAGES, SFTConfig, run_stage
    from feedlearn.tune.tiny import TinyConfig, init_tiny

    tmp = tmp_path_factory.mktemp("llamacpp")
    system = system_message(BALLOON, "seller")["content"]
    corpus = [system, *BALLOON.opening, REPLY, *BUYER_LINES] * 20
    base = init_tiny(tmp / "base", TinyConfig(vocab_size=400, hidden_size=64, layers=2, heads=2, intermediate_size=128,
                                              max_positions=512), texts=iter(corpus))
    convs = [{"system": system, "messages": [{"role": "user", "content": line}, {"role": "assistant", "content": REPLY}]}
             for line in BUYER_LINES]
    data = save_dataset(TuneDataset("conversation", convs * 4), tmp / "sft.json")
    config = load_config(SFTConfig, None, {"model": str(base), "data": str(data), "output_dir": str(tmp / "sft"),
                                           "max_steps": 60, "batch_size": 8, "lr": 3e-3, "save_steps": 1000})
    model_dir = run_stage(STAGES["sft"](), config)["model"]
    return model_dir, export_gguf(model_dir, tmp / "seller.gguf")


def test_llama_cpp_computes_the_transformers_logits(seller_model):
    import torch

    from feedlearn.tune.models import load_model, load_tokenizer

    model_dir, gguf_path = seller_model
    tokenizer, model = load_tokenizer(model_dir), load_model(model_dir)
    text = tokenizer.apply_chat_template([system_message(BALLOON, "seller"), {"role": "user", "content": "$12, final?"}],
                                         tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    llm = llama_cpp.Llama(str(gguf_path), n_ctx=512, logits_all=True, n_threads=2, seed=0, verbose=False)
    try:
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids  # the same tokens
        llm.eval(ids)
        theirs = np.array(llm.scores[:len(ids)])
    finally:
        llm.close()
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits[0].numpy()
    assert np.abs(theirs - ours).max() < 1e-3 * max(1.0, np.abs(ours).max())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(seller_model, tmp_path_factory):
    """``python -m llama_cpp.server`` on 127.0.0.1; yields its /v1 URL; stopped after the module."""
    port, log = free_port(), tmp_path_factory.mktemp("server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(seller_model[1]), "--model_alias", "tiny",
           "--host", "127.0.0.1", "--port", str(port), "--chat_format", "chatml", "--n_ctx", "2048",
           "--n_threads", "2", "--seed", "0", "--verbose", "False"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    assert json.load(reply)["data"][0]["id"] == "tiny"
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not answer within 60 s: {log.read_text()[-2000:]}")
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_game_through_the_llama_cpp_server(server, seller_model):
    params = Params(temperature=0.0, max_tokens=16, seed=0)
    buyer = ScriptedNegotiator("buyer", start=10, step=2, limit=18)
    served = asyncio.run(play(BALLOON, {"seller": make_backend(f"openai:tiny@{server}"), "buyer": buyer},
                              RuleModerator(), params=params))
    assert [t.text for t in served.turns[2:]] == [REPLY, "How about $12?", REPLY, "Deal! $14 it is."]
    assert served.success and served.price == 14
    local = asyncio.run(play(BALLOON, {"seller": make_backend(f"local:{seller_model[0]}"), "buyer": buyer},
                             RuleModerator(), params=params))
    assert [t.text for t in local.turns] == [t.text for t in served.turns]  # greedy: same model, same game


def test_an_experiment_through_the_llama_cpp_server(server, tmp_path):
    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment

    config = ExperimentConfig(seller=f"openai:tiny@{server}", runs=3, rounds=2, feedback="ai", temperature=0.0,
                              max_tokens=16, concurrency=3, llm_options={"timeout": 30, "max_retries": 1})
    runs = run_experiment(config, tmp_path / "x")
    lines = (tmp_path / "x" / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(r["players"]["seller"] == "openai:tiny" for r in runs)
    assert all(r["rounds"][0]["game"]["turns"][2] == ["seller", REPLY] for r in runs)
    assert (tmp_path / "x" / "cache.sqlite").exists()
