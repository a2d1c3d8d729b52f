"""The contract every member of ``BACKENDS`` keeps, each driven through its cheapest realistic double.

Parametrised over the registry itself: a member without a double in ``DOUBLES`` fails here. The doubles:
``openai`` and ``anthropic`` talk to the local servers of ``servers.py`` (vLLM's and the Messages API's
answers and errors), ``local`` runs the tiny model the bargain tests build (its generation options
recorded on their way in), ``scripted`` needs none. What each member's own test file adds is only what
is special to it (``tests/bargain/test_openai_backend.py``, ``test_bad_inputs.py``, ``test_play.py``).
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest

from feedlearn.bargain.backends import BACKENDS, make_backend
from feedlearn.bargain.backends.base import BaseBackend, Params
from feedlearn.bargain.backends.cache import CachedBackend
from feedlearn.common.errors import FeedlearnError
from tests.bargain.backends.servers import AnthropicServer, Server

HISTORY = [{"role": "system", "content": "You are selling a balloon. It cost you $8 and you are asking $20."},
           {"role": "assistant", "content": "This is a good balloon and its price is $20."},
           {"role": "user", "content": "Would you consider selling it for $10?"}]
OTHER_HISTORY = [*HISTORY, {"role": "assistant", "content": "I can do $18."}, {"role": "user", "content": "$12?"}]
PARAMS = Params(temperature=1.0, max_tokens=6, seed=1)  # the tiny model says something at seeds 1 and 2
SAMPLING = Params(temperature=0.3, max_tokens=7, seed=11, stop=("\n\n",))  # every field off its default
FAST = {"backoff": 0.01, "max_retries": 1}  # llm_options, as an experiment gives them to every backend


class HTTPDouble:
    """A backend against a local server; the server's next answers can be failures (``fail_next``)."""

    server: Any
    kind = ""
    retryable: tuple[int, ...] = ()
    reply = "I can do $18."  # the scripted negotiator's answer behind the server: $20 - one $2 step
    sampling: tuple[str, ...] = ()  # the Params fields that reach the request

    def spec(self, model: str) -> str:
        return f"{self.kind}:{model}@{self.server.url}"

    def fail_next(self, *statuses: int) -> None:
        self.server.failures = [(status, 0.0) for status in statuses]

    status_text = ""  # how the server's 400 reads in the error: the server's message, after the client's words

    def failing(self) -> tuple[BaseBackend, str]:
        """A backend whose next call fails, and its documented error (not retried: a 400 stays a 400)."""
        self.fail_next(400)
        backend = make_backend(self.spec("m"), **FAST)
        return backend, f"{backend.name} at {self.server.url}: HTTP 400: {self.status_text}scripted failure 400"

    def close(self) -> None:
        self.server.httpd.shutdown()
        self.server.httpd.server_close()


class OpenAIDouble(HTTPDouble):
    """``openai:``: a server that answers as vLLM does."""

    kind, retryable, sampling = "openai", (429, 500), ("temperature", "max_tokens", "seed", "stop")
    status_text = "Error code: 400 - "  # the openai client's

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.server = Server()

    def received(self) -> dict[str, Any]:
        sent = self.server.requests[-1]
        return {"temperature": sent["temperature"], "max_tokens": sent["max_tokens"], "seed": sent["seed"],
                "stop": tuple(sent["stop"])}


class AnthropicDouble(HTTPDouble):
    """``anthropic:``: a server that answers as the Messages API does (no seed in that API)."""

    kind, retryable, sampling = "anthropic", (429, 529), ("temperature", "max_tokens", "stop")

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.server = AnthropicServer()

    def received(self) -> dict[str, Any]:
        sent = self.server.requests[-1]
        return {"temperature": sent["temperature"], "max_tokens": sent["max_tokens"],
                "stop": tuple(sent["stop_sequences"])}


class LocalDouble:
    """``local:``: the tiny model; ``stop`` is cut from the text after generation, so it is no option."""

    retryable: tuple[int, ...] = ()
    reply = None  # an untrained model: some text
    sampling = ("temperature", "max_tokens", "seed")

    def __init__(self, request: pytest.FixtureRequest) -> None:
        from feedlearn.tune import infer

        self.model = request.getfixturevalue("tiny_model")
        self.tmp = request.getfixturevalue("tmp_path")
        self.options: list[Any] = []
        real = infer.generate

        def recording(model, tokenizer, batch, options):
            self.options.append(options)
            return real(model, tokenizer, batch, options)

        request.getfixturevalue("monkeypatch").setattr(infer, "generate", recording)

    def spec(self, model: str) -> str:
        if model == "m":
            return f"local:{self.model}"
        other = self.tmp / model  # another model: the same weights in another folder
        if not other.exists():
            shutil.copytree(self.model, other)
        return f"local:{other}"

    def received(self) -> dict[str, Any]:
        options = self.options[-1]
        return {"temperature": options.temperature, "max_tokens": options.max_new_tokens, "seed": options.seed}

    def failing(self) -> tuple[BaseBackend, str]:
        missing = self.tmp / "no-model"
        return make_backend(f"local:{missing}", **FAST), f"{missing}: no such model directory"

    def close(self) -> None:
        pass


class ScriptedDouble:
    """``scripted:``: rule-based, needs no stand-in; no sampling, nothing to retry, and no call fails."""

    retryable: tuple[int, ...] = ()
    reply = "I can do $18."
    sampling: tuple[str, ...] = ()

    def __init__(self, request: pytest.FixtureRequest) -> None:
        pass

    def spec(self, model: str) -> str:
        return {"m": "scripted:seller", "m2": "scripted:buyer"}[model]

    def failing(self) -> tuple[Any, str]:
        return None, "scripted backend: say scripted:seller, scripted:buyer or scripted:critic, not 'nobody'"

    def close(self) -> None:
        pass


DOUBLES = {"openai": OpenAIDouble, "anthropic": AnthropicDouble, "local": LocalDouble, "scripted": ScriptedDouble}


def missing_doubles() -> list[str]:
    return [kind for kind in BACKENDS if kind not in DOUBLES]


@pytest.fixture(params=list(BACKENDS))
def double(request):
    if request.param not in DOUBLES:
        pytest.fail(f"backend {request.param!r} has no double: add one to DOUBLES in {__file__}")
    made = DOUBLES[request.param](request)
    yield made
    made.close()


def complete(backend: Any, messages: list[dict], params: Params = PARAMS) -> str:
    return asyncio.run(backend.complete(messages, params))


def test_every_member_of_the_registry_has_a_double(monkeypatch):
    assert missing_doubles() == []
    monkeypatch.setitem(BACKENDS, "echo", BaseBackend)  # a member added without one ...
    assert missing_doubles() == ["echo"]  # ... is named, and its parametrised tests fail (the fixture above)


def test_complete_returns_the_text_of_a_reply(double):
    backend = make_backend(double.spec("m"), **FAST)
    assert isinstance(backend, BaseBackend) and isinstance(backend.name, str)
    reply = complete(backend, HISTORY)
    assert isinstance(reply, str) and reply.strip() == reply != ""
    assert double.reply is None or reply == double.reply


def test_sampling_params_reach_the_request(double):
    backend = make_backend(double.spec("m"), **FAST)
    reply = complete(backend, HISTORY, SAMPLING)
    if double.sampling:
        assert double.received() == {field: getattr(SAMPLING, field) for field in double.sampling}
    else:  # a rule-based player: the same reply whatever is asked of a sampler
        assert reply == complete(backend, HISTORY, PARAMS) == double.reply


def test_a_mistyped_option_is_one_line_naming_it(double):
    """An experiment's ``llm_options`` reach every backend: a typo is caught by each, with the close match."""
    spec = double.spec("m")
    with pytest.raises(FeedlearnError) as caught:
        make_backend(spec, tiemout=5)
    assert str(caught.value) == f"{spec}: unknown option 'tiemout'; did you mean 'timeout'?"


def test_failures_are_the_documented_one_line_errors(double):
    backend, message = double.failing()
    with pytest.raises(FeedlearnError) as caught:
        complete(backend, HISTORY) if backend is not None else make_backend("scripted:nobody")
    assert str(caught.value) == message and "\n" not in message
    if hasattr(double, "server"):
        assert len(double.server.requests) == 1  # a client error is not retried


def test_retryable_errors_are_retried_then_reported(double):
    if not double.retryable:
        pytest.skip("no server: nothing to retry")
    backend = make_backend(double.spec("m"), backoff=0.01, max_retries=len(double.retryable))
    double.fail_next(*double.retryable)
    assert complete(backend, HISTORY) == double.reply
    assert len(double.server.requests) == len(double.retryable) + 1
    double.fail_next(*double.retryable)  # one more failure than attempts left: the one-line error
    with pytest.raises(FeedlearnError, match=rf"^{backend.name} at .*: gave up after 2 attempts: .*"):
        complete(make_backend(double.spec("m"), backoff=0.01, max_retries=1), HISTORY)


def test_the_reply_cache_keys_on_model_params_and_messages(double, tmp_path):
    cache = tmp_path / "cache.sqlite"
    cached = CachedBackend(make_backend(double.spec("m"), **FAST), cache)
    first = complete(cached, HISTORY)
    assert complete(cached, HISTORY) == first and (cached.hits, cached.misses) == (1, 1)
    complete(cached, HISTORY, Params(temperature=1.0, max_tokens=6, seed=2))  # other params
    complete(cached, OTHER_HISTORY)  # other messages
    assert (cached.hits, cached.misses) == (1, 3)
    other = CachedBackend(make_backend(double.spec("m2"), **FAST), cache)  # another model, the same file
    complete(other, HISTORY)
    assert (other.hits, other.misses) == (0, 1) and other.identity != cached.identity
    again = CachedBackend(make_backend(double.spec("m"), **FAST), cache)  # a rerun: every answer from the file
    assert complete(again, HISTORY) == first and (again.hits, again.misses) == (1, 0)
