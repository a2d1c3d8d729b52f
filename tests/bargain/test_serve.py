"""``bargain serve``: our OpenAI-compatible server in front of a local model, and an experiment with
every role on that real (tiny) model through the HTTP route a vLLM server takes — the protocol, not
the model's skill."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from feedlearn.bargain.backends import make_backend
from feedlearn.bargain.serve import ROLES_ERROR, ChatServer


class Recording:
    """A backend wrapper that keeps every conversation it was asked to answer."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.seen = inner, inner.name, []

    async def complete(self, messages, params):
        self.seen.append(messages)
        return await self.inner.complete(messages, params)


@pytest.fixture
def served(tiny_model):
    server = ChatServer(Recording(make_backend(f"local:{tiny_model}")), "tiny", strict=True).serve_in_background()
    yield server
    server.close()


def post(url, body: bytes, content_length: int | None = None):
    request = urllib.request.Request(f"{url}/chat/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    if content_length is not None:
        request.add_header("Content-Length", str(content_length))
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_the_server_answers_like_vllm(served):
    with urllib.request.urlopen(f"{served.url}/models", timeout=10) as reply:
        assert json.load(reply)["data"][0]["id"] == "tiny"
    ok = {"model": "tiny", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
          "max_tokens": 4, "seed": 1}
    status, body = post(served.url, json.dumps(ok).encode())
    assert status == 200 and isinstance(body["choices"][0]["message"]["content"], str)
    # a strict template's refusal, in vLLM's words; bad fields and numbers are one-line 400s
    two_users = {**ok, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
    assert post(served.url, json.dumps(two_users).encode()) == (400, {
        "object": "error", "message": ROLES_ERROR, "type": "BadRequestError", "param": None, "code": None})
    for bad, where in (({**ok, "max_tokens": 0}, "max_tokens"), ({**ok, "temperature": float("nan")}, "temperature"),
                       ({**ok, "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role")):
        status, body = post(served.url, json.dumps(bad).encode())
        assert status == 400 and body["message"].startswith(f"request: {where}: ")
    status, body = post(served.url, b"<html>not json</html>")
    assert status == 400 and "json" in body["message"].lower()


def test_an_experiment_with_every_role_on_a_local_model_over_http(served, tmp_path):
    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
    from feedlearn.bargain.runlog import finished_runs

    scenario = tmp_path / "short.yaml"
    scenario.write_text("max_exchanges: 2\n")
    spec = f"openai:tiny@{served.url}"
    config = ExperimentConfig(runs=2, rounds=2, feedback="ai", scenario=str(scenario), seller=spec, buyer=spec,
                              critic=spec, max_tokens=8, cache=False, llm_options={"backoff": 0.01, "max_retries": 0})
    assert config.moderator == spec  # an LLM moderator on the players' model, by default
    runs = run_experiment(config, tmp_path / "x")
    assert len(runs) == 2 and len(finished_runs(tmp_path / "x" / "runs.jsonl")) == 2
    for run in runs:  # every game ended with a reason on record, whatever the tiny model said
        for record in run["rounds"]:
            end = record["game"]["end"]
            assert end == "deal" or end.startswith(("no deal after 2 exchanges", "empty reply", "reply too long"))
    systems = {m[0]["content"].split(".")[0] for m in served.backend.seen}
    # both players and the moderator went over HTTP (the critic speaks only after a deal)
    assert {"You are selling a balloon", "You want to buy a balloon",
            "You decide whether a buyer and a seller have just agreed on a deal"} <= systems
    assert all(m[0]["role"] == "system" for m in served.backend.seen)  # the strict server took every request
