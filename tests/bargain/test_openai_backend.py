"""The real HTTP path: a local OpenAI-compatible server on 127.0.0.1 (ephemeral port) behind our backend.

The server answers ``/v1/chat/completions`` with the scripted negotiator's reply to the messages it
receives, after a queue of scripted failures (429, 500, a slow reply, 400), so retries, timeouts,
errors and a whole game through HTTP are all checked without a real LLM.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from feedlearn.bargain.backends import make_backend
from feedlearn.bargain.backends.base import Params
from feedlearn.bargain.backends.cache import CachedBackend
from feedlearn.bargain.backends.scripted import RuleModerator, ScriptedNegotiator
from feedlearn.bargain.game import play
from feedlearn.bargain.scenario import Scenario
from feedlearn.common.errors import FeedlearnError
from tests.bargain.backends.servers import VLLM_ROLES_ERROR, AnthropicServer, Server, strictly_alternating


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


def backend(server, **options):
    return make_backend(f"openai:tiny-scripted@{server.url}", backoff=0.01, **options)


SELLER = [{"role": "system", "content": "You are selling a balloon."}, {"role": "user", "content": "$12?"}]


def test_params_reach_the_server(server):
    reply = asyncio.run(backend(server).complete(SELLER, Params(temperature=0.3, max_tokens=50, seed=7, stop=("\n",))))
    assert reply == "I can do $20."  # the scripted seller's first target (no turns yet)
    sent = server.requests[0]
    assert (sent["model"], sent["temperature"], sent["max_tokens"], sent["seed"], sent["stop"]) == (
        "tiny-scripted", 0.3, 50, 7, ["\n"])


def test_429_and_500_are_retried(server):
    server.failures = [(429, 0.0), (500, 0.0)]
    assert asyncio.run(backend(server).complete(SELLER, Params())) == "I can do $20."
    assert len(server.requests) == 3


def test_persistent_failure_is_one_clear_error(server):
    server.failures = [(500, 0.0)] * 3
    with pytest.raises(FeedlearnError, match=r"openai:tiny-scripted at http://127\.0\.0\.1:\d+/v1: gave up after 3 "
                                             r"attempts: InternalServerError"):
        asyncio.run(backend(server, max_retries=2).complete(SELLER, Params()))


def test_a_timeout_is_retried_then_reported(server):
    server.failures = [(200, 1.0), (200, 1.0)]
    with pytest.raises(FeedlearnError, match="gave up after 2 attempts: APITimeoutError"):
        asyncio.run(backend(server, timeout=0.2, max_retries=1).complete(SELLER, Params()))


def test_client_errors_are_not_retried(server):
    server.failures = [(400, 0.0)]
    with pytest.raises(FeedlearnError, match="HTTP 400"):
        asyncio.run(backend(server).complete(SELLER, Params()))
    assert len(server.requests) == 1


def test_a_whole_game_over_http_equals_the_direct_one(server):
    scenario = Scenario()
    direct = asyncio.run(play(scenario, {"seller": ScriptedNegotiator("seller", 20),
                                         "buyer": ScriptedNegotiator("buyer", 10)}, RuleModerator()))
    over_http = asyncio.run(play(scenario, {"seller": backend(server), "buyer": backend(server)}, RuleModerator()))
    assert [t.text for t in over_http.turns] == [t.text for t in direct.turns] and over_http.price == 14


def test_the_cache_makes_a_rerun_free_and_exact(server, tmp_path):
    cached = CachedBackend(backend(server), tmp_path / "cache.sqlite")
    first = asyncio.run(cached.complete(SELLER, Params(seed=1)))
    again = CachedBackend(backend(server), tmp_path / "cache.sqlite")  # a new process would reopen the file
    assert asyncio.run(again.complete(SELLER, Params(seed=1))) == first
    assert len(server.requests) == 1 and again.hits == 1
    asyncio.run(again.complete(SELLER, Params(seed=2)))  # other params: another key
    assert len(server.requests) == 2


def test_rate_limit_spaces_requests(server):
    started = time.perf_counter()
    b = backend(server, rate=20.0)

    async def five():
        await asyncio.gather(*(b.complete(SELLER, Params()) for _ in range(5)))

    asyncio.run(five())
    assert time.perf_counter() - started >= 4 / 20 - 0.01  # 5 requests at 20/s: at least 0.2 s


def test_unknown_backend_is_one_line():
    with pytest.raises(FeedlearnError, match="unknown backend 'gpt:x'"):
        make_backend("gpt:x")


def test_anthropic_shape_system_apart_and_roles_merged():
    from feedlearn.bargain.backends.anthropic import to_anthropic

    system, turns = to_anthropic([{"role": "system", "content": "a"}, {"role": "system", "content": "b"},
                                  {"role": "assistant", "content": "$20."}, {"role": "user", "content": "$10?"},
                                  {"role": "user", "content": "Well?"}, {"role": "assistant", "content": "$18."}])
    assert system == "a\n\nb"
    assert turns == [{"role": "user", "content": "(The conversation so far.)"}, {"role": "assistant", "content": "$20."},
                     {"role": "user", "content": "$10?\n\nWell?"}, {"role": "assistant", "content": "$18."}]


def test_anthropic_backend_over_http_with_retries():
    server = AnthropicServer()
    try:
        server.failures = [(529, 0.0)]  # overloaded, then fine
        b = make_backend(f"anthropic:claude-test@{server.url}", backoff=0.01, api_key="k")
        assert asyncio.run(b.complete(SELLER, Params(max_tokens=30))) == "I can do $20."
        sent = server.requests[-1]
        assert sent["system"] == "You are selling a balloon." and sent["messages"] == [{"role": "user", "content": "$12?"}]
        assert sent["max_tokens"] == 30 and sent["_headers"]["x-api-key"] == "k"
        server.failures = [(401, 0.0)]
        with pytest.raises(FeedlearnError, match="anthropic:claude-test at .*: HTTP 401: scripted failure 401"):
            asyncio.run(b.complete(SELLER, Params()))
    finally:
        server.httpd.shutdown()


def test_an_experiment_over_http_loses_nothing_when_the_server_dies_and_resumes(server, tmp_path):
    import json

    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment

    config = ExperimentConfig(runs=6, rounds=2, concurrency=1, feedback="none", moderator="rules",
                              seller=f"openai:s@{server.url}",
                              llm_options={"max_retries": 1, "backoff": 0.01})
    server.fail_after = 10  # a run takes 3 seller replies per game: the server dies during the 3rd or 4th run
    with pytest.raises(FeedlearnError, match="gave up after 2 attempts"):
        run_experiment(config, tmp_path / "x")
    saved = [json.loads(line) for line in (tmp_path / "x" / "runs.jsonl").read_text().splitlines()]
    assert 1 <= len(saved) < 6 and all(len(r["rounds"]) == 2 for r in saved)
    server.fail_after = None
    calls = len(server.requests)
    done = run_experiment(config, tmp_path / "x", resume=True)
    assert [r["run"] for r in done] == list(range(6)) and all(r["rounds"][0]["success"] for r in done)
    # the replies of the run that failed half-way came from the cache: fewer requests than 4 fresh runs
    assert len(server.requests) - calls < (6 - len(saved)) * 6


def test_a_strict_template_server_gets_only_alternating_conversations(server):
    """A history that starts with the seller's opening and holds two user turns in a row is sent
    alternating (merged, a user turn first), so a vLLM strict template accepts it."""
    import httpx

    history = [{"role": "system", "content": "You are selling a balloon."},
               {"role": "assistant", "content": "This is a good balloon and its price is $20."},
               {"role": "user", "content": "Would you consider $10?"}, {"role": "user", "content": "Lesson: hold firm."}]
    server.strict = True
    raw = httpx.post(f"{server.url}/chat/completions", json={"model": "m", "messages": history})
    assert raw.status_code == 400 and raw.json() == VLLM_ROLES_ERROR  # the double is as strict as vLLM
    reply = asyncio.run(backend(server).complete(history, Params()))
    assert reply.startswith("I can do $") and reply == asyncio.run(
        ScriptedNegotiator("seller", start=20).complete(server.requests[-1]["messages"], Params()))
    sent = server.requests[-1]["messages"]
    assert strictly_alternating(sent) and [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "(The conversation so far.)"
    assert sent[3]["content"] == "Would you consider $10?\n\nLesson: hold firm."


def test_a_whole_game_and_feedback_rounds_against_a_strict_template_server(server, tmp_path):
    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment

    server.strict = True
    scenario = Scenario()
    direct = asyncio.run(play(scenario, {"seller": ScriptedNegotiator("seller", 20),
                                         "buyer": ScriptedNegotiator("buyer", 10)}, RuleModerator()))
    over_http = asyncio.run(play(scenario, {"seller": backend(server), "buyer": backend(server)}, RuleModerator()))
    assert [t.text for t in over_http.turns] == [t.text for t in direct.turns]
    # rounds with the critic's lessons in the seller's history: every request must still alternate
    config = ExperimentConfig(runs=2, rounds=3, feedback="ai", moderator="rules", seller=f"openai:s@{server.url}",
                              buyer=f"openai:b@{server.url}", critic=f"openai:c@{server.url}",
                              llm_options={"backoff": 0.01, "max_retries": 0})
    runs = run_experiment(config, tmp_path / "x")
    assert len(runs) == 2 and all(strictly_alternating(r["messages"]) for r in server.requests)
    assert {"s", "b", "c"} <= {r["model"] for r in server.requests}  # players and critic went through it
    # and an LLM moderator
    from feedlearn.bargain.moderator import LLMModerator

    asyncio.run(play(scenario, {"seller": backend(server), "buyer": backend(server)},
                     LLMModerator(make_backend(f"openai:m@{server.url}", backoff=0.01))))
    assert "m" in {r["model"] for r in server.requests}
    assert all(strictly_alternating(r["messages"]) for r in server.requests)
