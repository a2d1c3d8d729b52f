"""Bad inputs to ``bargain`` (issue 14): hostile servers, scenario files, run files, options.

Each one must end in a one-line error naming the file/line/field or the server — never a traceback,
a hang, markup or control sequences on the terminal, or silently lost or invented data. Hostile
servers are canned answers served on 127.0.0.1 (ephemeral port), so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedlearn.bargain.backends import make_backend
from feedlearn.bargain.backends.base import MAX_TOKENS, Params
from feedlearn.bargain.backends.cache import CachedBackend
from feedlearn.bargain.backends.retry import RateLimiter, Retryable, read_capped, retry_after, server_text, with_retries
from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
from feedlearn.bargain.prices import prices_in
from feedlearn.bargain.report import report
from feedlearn.bargain.runlog import end_last_line, finished_runs
from feedlearn.bargain.scenario import Scenario, load_scenario
from feedlearn.bargain.terms import Term, agreed_terms
from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import folder

LAPTOP = folder("scenarios") / "laptop-multi-issue.yaml"
SELLER = [{"role": "system", "content": "You are selling a balloon."}, {"role": "user", "content": "$12?"}]


# ---- a hostile server ------------------------------------------------------------------------------

def chat(content) -> dict:
    """An OpenAI chat-completion body whose first choice says ``content``."""
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}


class Canned:
    """Answers every POST with the next ``(status, headers, body)``; the last answer repeats forever.

    A header ``X-Stall: SECONDS`` sends the first bytes of the body, then stalls that long.
    """

    def __init__(self, *answers: tuple[int, dict, object]) -> None:
        self.answers = list(answers)
        self.requests: list[dict] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                canned.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status, headers, body = canned.answers.pop(0) if len(canned.answers) > 1 else canned.answers[0]
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                stall = float(headers.pop("X-Stall", 0))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:5])
                self.wfile.flush()
                time.sleep(stall)
                try:
                    self.wfile.write(data[5:])
                except OSError:  # the client gave up waiting
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.root + "/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()


@pytest.fixture
def serve():
    servers: list[Canned] = []

    def start(*answers) -> Canned:
        servers.append(Canned(*answers))
        return servers[-1]

    yield start
    for s in servers:
        s.httpd.shutdown()
        s.httpd.server_close()


def openai(server: Canned, **options):
    return make_backend(f"openai:m@{server.url}", backoff=0.01, **options)


def one_error_line(capsys) -> str:
    """The CLI's stderr: exactly one line, a user error (no traceback, no internal error)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


# ---- 1. Retry-After is bounded ---------------------------------------------------------------------

def test_retry_after_refuses_unusable_values_and_reads_http_dates():
    now = 1_700_000_000.0
    in_two_minutes = email.utils.format_datetime(datetime.fromtimestamp(now + 120, timezone.utc), usegmt=True)
    an_hour_ago = email.utils.format_datetime(datetime.fromtimestamp(now - 3600, timezone.utc), usegmt=True)
    assert retry_after(in_two_minutes, now=now) == 120.0
    assert retry_after(an_hour_ago, now=now) == 0.0  # a date in the past: now
    assert retry_after(" 7 ") == 7.0 and retry_after("86400") == 86400.0  # with_retries caps it
    for unusable in ("inf", "-inf", "nan", "-5", "soon", "", "1e999"):
        assert retry_after(unusable) is None, unusable


def test_waits_are_capped_whatever_the_server_says():
    waits: list[float] = []
    answers = iter([Retryable("429", wait=86400.0), Retryable("429", wait=None), Retryable("429", wait=3.0)])

    async def call() -> str:
        exc = next(answers, None)
        if exc is not None:
            raise exc
        return "ok"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    reply = asyncio.run(with_retries(call, where="w", max_retries=5, backoff=100.0, limiter=RateLimiter(None),
                                     max_wait=60.0, sleep=sleep))
    # Retry-After: a day -> the cap; none -> backoff 100 s x 2^1, capped; 3 s -> 3 s
    assert reply == "ok" and waits == [60.0, 60.0, 3.0]


@pytest.mark.parametrize("header", ["inf", "86400", "nan", "-1", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_a_hostile_retry_after_costs_at_most_max_retry_wait(serve, header):
    server = serve((429, {"Retry-After": header}, {"error": {"message": "slow down"}}), (200, {}, chat("I can do $20.")))
    started = time.monotonic()
    assert asyncio.run(openai(server, max_retry_wait=0.05).complete(SELLER, Params())) == "I can do $20."
    # a hang guard (the header asks for a day or forever), loose enough for a loaded CI machine;
    # the exact capped waits are pinned with an injected sleep in the test above
    assert time.monotonic() - started < 30 and len(server.requests) == 2


def test_bargain_run_against_a_server_that_always_says_wait_a_day(serve, tmp_path, capsys):
    server = serve((429, {"Retry-After": "86400"}, {"error": {"message": "come back tomorrow"}}))
    config = tmp_path / "exp.yaml"
    config.write_text(f"seller: openai:m@{server.url}\nruns: 1\nrounds: 1\nfeedback: none\n"
                      "llm_options: {max_retries: 2, backoff: 0.01, max_retry_wait: 0.05}\n")
    started = time.monotonic()
    assert main(["bargain", "run", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert time.monotonic() - started < 10 and len(server.requests) == 3
    err = one_error_line(capsys)
    assert f"openai:m at {server.url}: gave up after 3 attempts: RateLimitError" in err


# ---- 2. scenario text is not a format string -------------------------------------------------------

def test_scenario_text_is_filled_by_name_only():
    s = Scenario(product="kite {open}")  # a value is never filled in again
    assert s.fill("{product.__class__.__mro__} {0} { {{ask}} {ask:>999999999} $ask") == \
        "{product.__class__.__mro__} {0} { {20} {ask:>999999999} $ask"
    assert s.fill("${ask:g}, ${open:.2f}, {cost}, {product}, {role}", role="seller") == \
        "$20, $10.00, 8, kite {open}, seller"
    assert s.fill("{role:g} {unknown}") == "{role:g} {unknown}"  # not a number, not a field: literal


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fill_never_raises_and_keeps_text_without_placeholders(text):
    filled = Scenario().fill(text)
    if "{" not in text:
        assert filled == text


def test_play_with_braces_in_the_scenario(tmp_path, capsys):
    path = tmp_path / "braces.yaml"
    path.write_text('product: "widget {x}"\nseller_system: "Sell it { {product.__init__.__globals__} {0}"\n'
                    "opening: ['A {product} for ${ask:g} {', 'Maybe ${open:g}}?']\n", encoding="utf-8")
    assert main(["bargain", "play", "--scenario", str(path)]) == 0
    out = capsys.readouterr().out
    assert "seller: A widget {x} for $20 {" in out and "buyer: Maybe $10}?" in out


# ---- 3. server text on the terminal ----------------------------------------------------------------

HOSTILE = "[bold red]FREE[/] [/link] \x1b[2J\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 \u202eevil offer $30."


def test_play_prints_server_text_without_markup_or_control_sequences(serve, capsys):
    server = serve((200, {}, chat(HOSTILE)))
    assert main(["bargain", "play", "--seller", f"openai:m@{server.url}"]) == 0
    out = capsys.readouterr().out
    assert "seller: [bold red]FREE[/] [/link] click evil offer $30." in out  # the words, literally
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert out.strip().endswith("no deal after 10 exchanges")


def test_play_prints_scenario_names_plainly(tmp_path, capsys):
    laptop = LAPTOP.read_text(encoding="utf-8").replace("name: warranty", 'name: "[/]care\\e[5m"')
    path = tmp_path / "laptop.yaml"
    path.write_text(laptop, encoding="utf-8")
    assert main(["bargain", "play", "--scenario", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("deal at $565, delivery 5, [/]care 6 (utility: seller 210, buyer 170)")
    assert "\x1b" not in out


def test_report_table_names_runs_plainly(tmp_path, capsys):
    run_dir = tmp_path / "a|b\x1b[31m[red]x"
    run_experiment(ExperimentConfig(runs=2, rounds=1), run_dir)
    assert main(["bargain", "report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "| a\\|b[red]x | 1 |" in out and "\x1b" not in out


def test_report_refuses_two_run_dirs_of_one_name(tmp_path, capsys):
    for parent in ("a", "b"):
        run_experiment(ExperimentConfig(runs=1, rounds=1), tmp_path / parent / "ai")
    assert main(["bargain", "report", str(tmp_path / "a" / "ai"), str(tmp_path / "b" / "ai")]) == 2
    assert f"{tmp_path / 'b' / 'ai'}: another run directory is also named 'ai'" in one_error_line(capsys)


def test_server_error_text_is_cleaned_and_shortened():
    assert server_text("line one\n\x1b[31mline two\x1b[0m\x07") == "line one line two"
    long = server_text("x" * 5000)
    assert len(long) == 200 and long.endswith("…")


def test_a_long_hostile_error_message_is_one_short_clean_line(serve):
    message = "\x1b]0;pwned\x07" + "bad request " * 500
    server = serve((400, {}, {"error": {"message": message}}))
    with pytest.raises(FeedlearnError) as caught:
        asyncio.run(openai(server).complete(SELLER, Params()))
    text = str(caught.value)
    assert text.startswith(f"openai:m at {server.url}: HTTP 400: ") and len(text) < 300
    assert "\x1b" not in text and "\x07" not in text and "\n" not in text
    anthropic = serve((401, {}, {"error": {"message": message}}))
    with pytest.raises(FeedlearnError) as caught:
        asyncio.run(make_backend(f"anthropic:c@{anthropic.root}").complete(SELLER, Params()))
    text = str(caught.value)
    assert text.startswith(f"anthropic:c at {anthropic.root}: HTTP 401: bad request") and len(text) < 300
    assert "\x1b" not in text and "pwned" not in text


# ---- 4. resume keeps a whole last record that lost only its newline --------------------------------

@pytest.mark.parametrize("more", [0, 1])
def test_resume_keeps_a_complete_last_record_without_newline(tmp_path, capsys, more):
    out = tmp_path / "r"
    assert main(["bargain", "run", "--out", str(out), "--runs", "5", "--rounds", "2"]) == 0
    path = out / "runs.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])  # the crash came between the last record and its newline
    capsys.readouterr()
    assert main(["bargain", "run", "--out", str(out), "--runs", str(5 + more), "--rounds", "2", "--resume"]) == 0
    assert f"{5 + more} runs in" in capsys.readouterr().out
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 5 + more and all(line.endswith(b"\n") for line in lines)
    assert b"".join(lines[:5]) == whole  # the last record kept, byte for byte
    assert sorted(json.loads(line)["run"] for line in lines) == list(range(5 + more))


@pytest.mark.parametrize("torn", [b'{"run": 5, "seed": 5, "rou', b'{"run": 5, "note": "caf\xc3'])
def test_only_a_torn_last_line_is_cut(tmp_path, torn):
    run_experiment(ExperimentConfig(runs=3, rounds=1), tmp_path / "x")
    path = tmp_path / "x" / "runs.jsonl"
    whole = path.read_bytes()
    path.write_bytes(whole + torn)
    assert sorted(finished_runs(path)) == [0, 1, 2]
    end_last_line(path)
    assert path.read_bytes() == whole


def test_a_whole_but_bad_last_line_is_an_error_not_cut(tmp_path):
    run_experiment(ExperimentConfig(runs=2, rounds=1), tmp_path / "x")
    path = tmp_path / "x" / "runs.jsonl"
    bad = path.read_bytes() + b'{"run": 2, "rounds": [{"success": true, "price": NaN, "reply_chars": {}}]}'
    path.write_bytes(bad)
    with pytest.raises(FeedlearnError, match=r"runs.jsonl:3: not a run record \(NaN is not a number"):
        run_experiment(ExperimentConfig(runs=3, rounds=1), tmp_path / "x", resume=True)
    assert path.read_bytes() == bad


def test_a_run_written_twice_is_an_error(tmp_path):
    run_experiment(ExperimentConfig(runs=2, rounds=1), tmp_path / "x")
    path = tmp_path / "x" / "runs.jsonl"
    first = path.read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(path.read_bytes() + first)
    with pytest.raises(FeedlearnError, match=r"runs.jsonl:3: run 0 again \(first on line 1\)"):
        report([tmp_path / "x"])


# ---- 5. the reply cache keys on the server, not only the model name --------------------------------

def test_the_cache_tells_servers_apart(serve, tmp_path):
    old, new = serve((200, {}, chat("Old server: $20."))), serve((200, {}, chat("New server: $19.")))
    cache = tmp_path / "cache.sqlite"
    assert asyncio.run(CachedBackend(openai(old), cache).complete(SELLER, Params())) == "Old server: $20."
    again = CachedBackend(openai(new), cache)
    assert asyncio.run(again.complete(SELLER, Params())) == "New server: $19."
    assert len(new.requests) == 1 and again.misses == 1
    assert asyncio.run(CachedBackend(openai(old), cache).complete(SELLER, Params())) == "Old server: $20."
    assert len(old.requests) == 1  # each server's reply is still cached under its own key
    ids = {make_backend(spec).identity for spec in ("openai:m", "openai:m@http://a/v1", "anthropic:m",
                                                     "anthropic:m@http://a/v1")}
    assert len(ids) == 4


def test_an_empty_cached_reply_is_not_played(serve, tmp_path):
    server = serve((200, {}, chat("I can do $20.")))
    cache = tmp_path / "cache.sqlite"
    cached = CachedBackend(openai(server), cache)
    key = cached.key(cached.identity, SELLER, Params())
    with cached.db:
        cached.db.execute("INSERT INTO replies VALUES (?, ?)", (key, ""))  # what an older version stored
    assert asyncio.run(cached.complete(SELLER, Params())) == "I can do $20." and len(server.requests) == 1


def test_a_cache_file_that_is_not_sqlite_is_one_line_and_left_alone(tmp_path):
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"my notes, not a database\n" * 100)
    with pytest.raises(FeedlearnError, match=r"cache.sqlite: cannot use it as the reply cache \(file is not a database"):
        CachedBackend(make_backend("openai:m@http://127.0.0.1:9/v1"), cache)
    assert cache.read_bytes() == b"my notes, not a database\n" * 100


# ---- 6 and 9. replies that are missing, null, empty or of the wrong shape ---------------------------

@pytest.mark.parametrize("answer, problem", [
    ((200, {"Content-Type": "text/html"}, b"<html><body>Bad gateway</body></html>"),
     "the reply is not JSON (starts with '<html><body>Bad gateway</body></html>')"),
    ((200, {}, b""), "the reply is not JSON (an empty body)"),
    ((200, {}, b"\xff\xfe garbage"), "the reply is not JSON"),
    ((200, {}, {"choices": []}), "the reply has no choices ('choices' is empty)"),
    ((200, {}, [1, 2]), "the reply has no 'choices' list (keys: a JSON list, not an object)"),
    ((200, {}, {"content": [{"type": "text", "text": "hi"}]}), "the reply has no 'choices' list (keys: content)"),
    ((200, {}, chat(None)), "empty reply (choices[0].message.content is null, finish_reason 'stop')"),
    ((200, {}, chat("")), "empty reply (choices[0].message.content is '', finish_reason 'stop')"),
    ((200, {}, chat("\n\t")), "empty reply (choices[0].message.content is '\\n\\t', finish_reason 'stop')"),
    ((200, {}, chat(5)), "empty reply (choices[0].message.content is int"),
    ((200, {}, {"choices": ["x"]}), "empty reply (choices[0].message.content is null"),
])
def test_openai_replies_that_are_not_a_completion(serve, answer, problem):
    server = serve(answer)
    with pytest.raises(FeedlearnError) as caught:
        asyncio.run(openai(server).complete(SELLER, Params()))
    assert str(caught.value).startswith(f"openai:m at {server.url}: {problem}")
    assert len(server.requests) == 1  # a wrong shape is not retried


@pytest.mark.parametrize("body, problem", [
    (chat("$20"), "the reply has no 'content' list (not a Messages API reply; an OpenAI-format reply: use "
                  "openai:MODEL@URL)"),
    (b"<html>502</html>", "the reply is not JSON (starts with '<html>502</html>'); is this the Messages API?"),
    ({"content": "hi"}, "the reply has no 'content' list (not a Messages API reply)"),
    ({"content": [], "stop_reason": "max_tokens"}, "empty reply (no text in 0 content blocks, stop_reason "
                                                    "'max_tokens')"),
    ({"content": [{"type": "text"}, {"type": "image"}, "x"]}, "empty reply (no text in 3 content blocks)"),
])
def test_anthropic_replies_that_are_not_a_message(serve, body, problem):
    server = serve((200, {}, body))
    with pytest.raises(FeedlearnError) as caught:
        asyncio.run(make_backend(f"anthropic:c@{server.root}", api_key="k").complete(SELLER, Params()))
    assert str(caught.value) == f"anthropic:c at {server.root}: {problem}"


def test_play_anthropic_against_an_openai_server_stops_with_one_line(serve, capsys):
    server = serve((200, {}, chat("I can do $20.")))
    assert main(["bargain", "play", "--seller", f"anthropic:m@{server.root}"]) == 2
    err = one_error_line(capsys)
    assert f"anthropic:m at {server.root}: the reply has no 'content' list" in err and "use openai:" in err


def test_play_with_a_null_reply_ends_the_game_with_its_reason(serve, capsys):
    server = serve((200, {}, chat(None)))
    assert main(["bargain", "play", "--seller", f"openai:m@{server.url}", "--moderator", "rules"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the terminal may wrap the line
    assert out.endswith("message.content is null, finish_reason 'stop'))")
    assert f"no deal: empty reply from the seller (openai:m at {server.url}: empty reply (choices[0]." in out


@pytest.mark.parametrize(("reply", "end"), [
    (None, "empty reply from the seller (openai:m at "),
    ("   ", "empty reply from the seller (openai:m at "),
    ("x" * 50_000, "reply too long from the seller (50,000 characters)"),
])
def test_bad_replies_end_that_game_never_the_experiment(serve, tmp_path, reply, end):
    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment

    server = serve((200, {}, chat(reply)))
    config = ExperimentConfig(runs=3, rounds=2, feedback="none", seller=f"openai:m@{server.url}", moderator="rules",
                              cache=False, llm_options={"backoff": 0.01, "max_retries": 0})
    runs = run_experiment(config, tmp_path / "x")
    assert len(runs) == 3  # every run finished and was recorded
    for run in runs:
        (only,) = run["rounds"]  # the first game ended, so the run did
        assert not only["success"] and only["game"]["end"].startswith(end)


def test_replies_in_another_language_or_without_a_price_play_on(serve, tmp_path):
    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment

    server = serve((200, {}, chat("Je réfléchis encore, merci.")))
    config = ExperimentConfig(runs=1, rounds=1, feedback="none", seller=f"openai:m@{server.url}", moderator="rules",
                              cache=False, llm_options={"backoff": 0.01})
    (run,) = run_experiment(config, tmp_path / "x")
    game = run["rounds"][0]["game"]
    assert game["end"] == "no deal after 10 exchanges" and len(game["turns"]) == 2 + 2 * 10


def test_a_reply_body_is_read_up_to_a_limit():
    async def endless():
        while True:
            yield b"x" * 1024

    async def short():
        yield b"ab"
        yield b"c"

    with pytest.raises(FeedlearnError, match=r"w: the reply is larger than 1 MiB"):
        asyncio.run(read_capped(endless(), "w", limit=2**20))
    assert asyncio.run(read_capped(short(), "w", limit=3)) == b"abc"


# ---- 7. backend options and call parameters are checked ---------------------------------------------

@pytest.mark.parametrize("options, message", [
    ({"max_retries": -2}, "option max_retries: Input should be greater than or equal to 0 (got -2)"),
    ({"timeout": 0}, "option timeout: Input should be greater than 0 (got 0)"),
    ({"timeout": float("inf")}, "option timeout: Input should be a finite number (got inf)"),
    ({"timeout": float("nan")}, "option timeout: Input should be a finite number (got nan)"),
    ({"rate": 0}, "option rate: Input should be greater than 0 (got 0)"),
    ({"rate": float("inf")}, "option rate: Input should be a finite number (got inf)"),
    ({"backoff": -1}, "option backoff: Input should be greater than or equal to 0 (got -1)"),
    ({"max_retry_wait": 1e9}, "option max_retry_wait: Input should be less than or equal to 3600 (got 1000000000.0)"),
    ({"tiemout": 5}, "unknown option 'tiemout'; did you mean 'timeout'?"),
    ({"colour": 5}, "unknown option 'colour'; known: timeout, max_retries, backoff, max_retry_wait, rate"),
])
def test_bad_backend_options_are_one_line_naming_the_option(serve, options, message):
    server = serve((200, {}, chat("I can do $20.")))
    for kind in ("openai", "anthropic", "local"):
        with pytest.raises(FeedlearnError) as caught:
            make_backend(f"{kind}:m@{server.url}", **options)
        assert str(caught.value) == f"{kind}:m@{server.url}: {message}"
    assert server.requests == []  # nothing was sent


@pytest.mark.parametrize("spec, message", [
    ("openai:m@localhost:8000/v1", "openai:m@localhost:8000/v1: not a server URL 'localhost:8000/v1' (say "
                                   "http://HOST:PORT/v1 or https://...)"),
    ("anthropic:c@http://[::1", "anthropic:c@http://[::1: not a server URL 'http://[::1'"),
    ("openai:m@http://h:port/v1", "openai:m@http://h:port/v1: not a server URL"),
    ("openai:", "openai:: no model name (say openai:MODEL or openai:MODEL@URL)"),
    ("anthropic:@http://h", "anthropic:@http://h: no model name"),
])
def test_bad_backend_specs_fail_at_once(spec, message):
    with pytest.raises(FeedlearnError) as caught:
        make_backend(spec)
    assert str(caught.value).startswith(message)


def test_a_body_that_stalls_is_retried_then_reported(serve):
    server = serve((200, {"X-Stall": "0.5"}, chat("I can do $20.")))
    with pytest.raises(FeedlearnError, match=r"openai:m at http://.*: gave up after 2 attempts: ReadTimeout"):
        asyncio.run(openai(server, timeout=0.1, max_retries=1).complete(SELLER, Params()))
    assert len(server.requests) == 2
    anthropic = serve((200, {"X-Stall": "0.5"}, {"content": [{"type": "text", "text": "$20"}]}))
    with pytest.raises(FeedlearnError, match=r"anthropic:c at http://.*: gave up after 2 attempts: ReadTimeout"):
        asyncio.run(make_backend(f"anthropic:c@{anthropic.root}", timeout=0.1, max_retries=1, backoff=0.01)
                    .complete(SELLER, Params()))


def test_a_body_that_does_not_decode_is_one_line(serve):
    server = serve((200, {"Content-Encoding": "gzip"}, b"not gzip at all"))
    with pytest.raises(FeedlearnError, match=r"openai:m at http://.*: DecodingError: "):
        asyncio.run(openai(server).complete(SELLER, Params()))
    anthropic = serve((200, {"Content-Encoding": "gzip"}, b"not gzip at all"))
    with pytest.raises(FeedlearnError, match=r"anthropic:c at http://.*: DecodingError: "):
        asyncio.run(make_backend(f"anthropic:c@{anthropic.root}").complete(SELLER, Params()))


def test_scripted_options_are_checked():
    with pytest.raises(FeedlearnError, match=r"scripted:seller: unknown option 'stepp'; did you mean 'step'\?"):
        make_backend("scripted:seller", stepp=2)


@pytest.mark.parametrize("params, message", [
    ({"temperature": float("nan")}, "temperature: must be a finite number from 0 to 2, not nan"),
    ({"temperature": 2.5}, "temperature: must be a finite number from 0 to 2, not 2.5"),
    ({"temperature": -0.1}, "temperature: must be a finite number from 0 to 2"),
    ({"max_tokens": 0}, "max_tokens: must be a whole number from 1 to 131,072, not 0"),
    ({"max_tokens": 10**9}, "max_tokens: must be a whole number from 1 to 131,072"),
    ({"max_tokens": 1.5}, "max_tokens: must be a whole number"),
    ({"seed": 2**64}, "seed: must be a whole number that fits 64 bits"),
    ({"stop": ("",)}, "stop: at most 16 non-empty strings"),
])
def test_bad_call_parameters(params, message):
    with pytest.raises(FeedlearnError) as caught:
        Params(**params)
    assert str(caught.value).startswith(message)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-2**70, max_value=2**70))
def test_params_are_valid_or_refused_in_one_line(temperature, max_tokens):
    ok = math.isfinite(temperature) and 0 <= temperature <= 2 and 1 <= max_tokens <= MAX_TOKENS
    try:
        Params(temperature=temperature, max_tokens=max_tokens)
    except FeedlearnError as exc:
        assert not ok and "\n" not in str(exc)
    else:
        assert ok


def test_play_refuses_a_nan_temperature_before_any_request(serve, capsys):
    server = serve((200, {}, chat("I can do $20.")))
    assert main(["bargain", "play", "--seller", f"openai:m@{server.url}", "--temperature", "nan"]) == 2
    assert "error: temperature: must be a finite number from 0 to 2, not nan" in one_error_line(capsys)
    assert server.requests == []


def test_a_mistyped_llm_option_in_an_experiment_file(tmp_path, capsys):
    config = tmp_path / "exp.yaml"
    config.write_text("seller: openai:m@http://127.0.0.1:9/v1\nllm_options: {tiemout: 5}\n")
    assert main(["bargain", "run", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = one_error_line(capsys)
    assert str(config) in err and "llm_options" in err and "'tiemout'" in err and "'timeout'" in err
    assert not (tmp_path / "out").exists()  # refused before anything was written


# ---- 8. run files that are not UTF-8 ---------------------------------------------------------------

def test_a_non_utf8_runs_file_is_one_line_on_resume_and_on_report(tmp_path, capsys):
    out = tmp_path / "r"
    run_experiment(ExperimentConfig(runs=3, rounds=1), out)
    path = out / "runs.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"run": 1, "note": "caf\xe9"}\n'  # Latin-1, as another tool might write it
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()
    expected = f"{path}:2: not a run record (not UTF-8: byte 0xe9 at column 24)"
    assert main(["bargain", "run", "--out", str(out), "--runs", "3", "--rounds", "1", "--resume"]) == 2
    assert one_error_line(capsys) == f"error: {expected}\n"
    assert main(["bargain", "report", str(out)]) == 2
    assert one_error_line(capsys) == f"error: {expected}\n"
    assert path.read_bytes() == before  # nothing cut or rewritten


def test_a_non_utf8_or_foreign_config_json_on_resume(tmp_path, capsys):
    out = tmp_path / "r"
    run_experiment(ExperimentConfig(runs=1, rounds=1), out)
    (out / "config.json").write_bytes(b'{"runs": "\xff"}')
    assert main(["bargain", "run", "--out", str(out), "--runs", "1", "--rounds", "1", "--resume"]) == 2
    assert "config.json:1: not UTF-8 text (byte 0xff)" in one_error_line(capsys)
    (out / "config.json").write_text('{"theme": "dark"}')  # someone else's config.json
    assert main(["bargain", "run", "--out", str(out), "--runs", "1", "--resume"]) == 2
    assert "config.json: not the settings of a bargain experiment" in one_error_line(capsys)
    assert (out / "config.json").read_text() == '{"theme": "dark"}'


def test_an_out_dir_with_a_foreign_config_json_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"theme": "dark"}')
    assert main(["bargain", "run", "--out", str(tmp_path), "--runs", "1", "--rounds", "1"]) == 2
    assert "config.json: exists; pass --resume" in one_error_line(capsys)
    assert (tmp_path / "config.json").read_text() == '{"theme": "dark"}' and not (tmp_path / "runs.jsonl").exists()


def test_non_finite_or_malformed_records_name_their_line(tmp_path):
    run_experiment(ExperimentConfig(runs=1, rounds=1), tmp_path / "x")
    path = tmp_path / "x" / "runs.jsonl"
    good = path.read_bytes()
    row = json.loads(good)
    bad = {
        '"price": 1e999': "1e999 is out of range",
        '"price": 1e300': "rounds.0.price: Input should be less than or equal to 1000000000000",
        '"price": -5': "rounds.0.price: Input should be greater than or equal to 0",
        '"reply_chars": {"seller": 1}': "rounds.0.reply_chars.buyer: Field required",
        '"success": "yes"': "rounds.0.success: Input should be a valid boolean",
        '"run": -1': "run: Input should be greater than or equal to 0",
    }
    for patch, message in bad.items():
        key = patch.split(":")[0].strip('"')
        text = json.dumps(row)
        value = json.dumps(row[key] if key == "run" else row["rounds"][0][key])
        path.write_bytes(good + text.replace(f'"{key}": {value}', patch, 1).encode() + b"\n")
        with pytest.raises(FeedlearnError) as caught:
            finished_runs(path)
        assert str(caught.value) == f"{path}:2: not a run record ({message})", patch


# ---- 10. numbers from scenario files, experiment options and server text ---------------------------

@pytest.mark.parametrize("yaml_text, message", [
    ("seller_ask: .nan", "seller_ask: Input should be a finite number"),
    ("seller_ask: .inf", "seller_ask: Input should be a finite number"),
    ("seller_cost: -3", "seller_cost: Input should be greater than or equal to 0"),
    ("buyer_open: 0", "buyer_open: Input should be greater than 0"),
    ("seller_ask: 1e300", "seller_ask: Input should be less than or equal to 1000000000000"),
    ("max_exchanges: 1000000000", "max_exchanges: Input should be less than or equal to 1000"),
    ("buyer_worth: -1", "buyer_worth: Input should be greater than or equal to 0"),
    ("terms: [{name: d, unit: days, words: [days], default: .inf, seller_value: 1, buyer_value: 1}]",
     "terms.0.default: Input should be a finite number"),
    ("terms: [{name: d, unit: days, words: [' '], default: 1, seller_value: 1, buyer_value: 1}]",
     "terms.0.words.0: String should have at least 1 character"),
    ("terms: [{name: d, unit: days, words: [days], default: 1, seller_value: .nan, buyer_value: 1}]",
     "terms.0.seller_value: Input should be a finite number"),
    ("opening: [" + ", ".join(["hi"] * 21) + "]", "opening: List should have at most 20 items"),
])
def test_bad_numbers_in_a_scenario_file(tmp_path, capsys, yaml_text, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(FeedlearnError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert main(["bargain", "play", "--scenario", str(path)]) == 2
    assert f"{path}: {message}" in one_error_line(capsys)


def test_a_scenario_file_that_is_not_utf8_or_too_big(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("product: caf\xe9\n".encode("latin-1"))
    with pytest.raises(FeedlearnError, match=r"latin.yaml:1: not UTF-8 text \(byte 0xe9\)"):
        load_scenario(latin)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * 200_000)
    with pytest.raises(FeedlearnError, match=r"big.yaml: larger than 1 MiB; a scenario file is at most that"):
        load_scenario(big)


@pytest.mark.parametrize("argv, field", [
    (["--runs", "0"], "runs: Input should be greater than 0"),
    (["--runs", "100000000"], "runs: Input should be less than or equal to 1000000"),
    (["--rounds", "0"], "rounds: Input should be greater than 0"),
    (["--rounds", "5000"], "rounds: Input should be less than or equal to 100"),
    (["--concurrency", "0"], "concurrency: Input should be greater than 0"),
    (["--concurrency", "1000000"], "concurrency: Input should be less than or equal to 1024"),
    (["--seed", "-1"], "seed: Input should be greater than or equal to 0"),
])
def test_bad_counts_from_the_command_line(tmp_path, capsys, argv, field):
    assert main(["bargain", "run", "--out", str(tmp_path / "o"), *argv]) == 2
    assert f"options: {field}" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("yaml_text, field", [
    ("temperature: .nan", "temperature: Input should be a finite number"),
    ("temperature: 7", "temperature: Input should be less than or equal to 2"),
    ("max_tokens: 100000000", "max_tokens: Input should be less than or equal to 131072"),
    ("llm_options: {max_retries: -2}", "llm_options.max_retries: Input should be greater than or equal to 0"),
    ("llm_options: {timeout: .inf}", "llm_options.timeout: Input should be a finite number"),
    ("scripted_seller: {step: .nan}", "scripted_seller.step: Input should be a finite number"),
])
def test_bad_numbers_in_an_experiment_file(tmp_path, capsys, yaml_text, field):
    config = tmp_path / "exp.yaml"
    config.write_text(yaml_text + "\n")
    assert main(["bargain", "run", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert f"{config}: {field}" in one_error_line(capsys)


def test_huge_numbers_in_server_text_are_not_prices_or_terms():
    huge = "9" * 400  # float() of it is inf
    assert prices_in(f"I can do ${huge}.") == []
    delivery = Term(name="delivery", unit="days", words=["days"], default=10, seller_value=5, buyer_value=-8)
    assert agreed_terms([delivery], [f"Deal, delivery in {huge} days"]) == {"delivery": 10.0}
    assert agreed_terms([delivery], ["5 days", f"no, {huge} days"]) == {"delivery": 5.0}


def test_a_game_against_a_server_shouting_huge_numbers_writes_a_clean_file(serve, tmp_path):
    # 16 digits: a finite number, but no price any scenario allows; 400 digits: inf to float()
    server = serve((200, {}, chat(f"Deal! ${'9' * 16} it is, delivery {'9' * 400} days.")))
    config = ExperimentConfig(runs=1, rounds=1, feedback="none", seller=f"openai:m@{server.url}",
                              scenario=str(LAPTOP), moderator="rules", llm_options={"backoff": 0.01})
    rows = run_experiment(config, tmp_path / "x")
    game = rows[0]["rounds"][0]["game"]
    # the huge number is no price: the last one on the table is the buyer's opening $400, not a valid deal
    assert game["deal"] and game["price"] == 400.0 and not game["valid"]
    assert game["terms"] == {"delivery": 10.0, "warranty": 3.0} and all(map(math.isfinite, game["utility"].values()))
    text = (tmp_path / "x" / "runs.jsonl").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert len(finished_runs(tmp_path / "x" / "runs.jsonl")) == 1



def test_a_second_experiment_into_the_same_folder_is_refused(tmp_path):
    """Two writers appending to one runs.jsonl would interleave and duplicate runs."""
    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
    from feedlearn.common.runlock import exclusive

    run_experiment(ExperimentConfig(runs=2, rounds=2), tmp_path / "x")
    before = (tmp_path / "x" / "runs.jsonl").read_bytes()
    with exclusive(tmp_path / "x", "experiment"):
        with pytest.raises(FeedlearnError, match=r"\.lock: another experiment \(pid \d+\) is writing to .*x; "
                                                 "wait for it to finish or use another --out"):
            run_experiment(ExperimentConfig(runs=4, rounds=2), tmp_path / "x", resume=True)
    assert (tmp_path / "x" / "runs.jsonl").read_bytes() == before
    assert len(run_experiment(ExperimentConfig(runs=4, rounds=2), tmp_path / "x", resume=True)) == 4


def test_report_outputs_are_checked_before_reading_the_runs(tmp_path, capsys):
    run_experiment(ExperimentConfig(runs=2, rounds=2), tmp_path / "x")
    runs = tmp_path / "x" / "runs.jsonl"
    before = runs.read_bytes()
    assert main(["bargain", "report", str(tmp_path / "x"), "--plot", str(tmp_path)]) == 2
    assert one_error_line(capsys) == f"error: --plot {tmp_path}: is a folder; give a file name\n"
    assert main(["bargain", "report", str(tmp_path / "x"), "--markdown", str(runs)]) == 2
    assert one_error_line(capsys) == f"error: --markdown {runs}: is the input {runs}; refusing to overwrite it\n"
    assert runs.read_bytes() == before


def test_a_runs_file_with_an_endless_line_is_one_line_not_all_of_memory(tmp_path, monkeypatch, capsys):
    import feedlearn.bargain.runlog as runlog

    monkeypatch.setattr(runlog, "MAX_RECORD_BYTES", 1000)
    run_experiment(ExperimentConfig(runs=1, rounds=1), tmp_path / "x")
    runs = tmp_path / "x" / "runs.jsonl"
    with runs.open("ab") as handle:
        handle.write(b'{"run": 1, "rounds": [' + b" " * 5000 + b"]}\n")
    before = runs.read_bytes()
    assert main(["bargain", "report", str(tmp_path / "x")]) == 2
    assert one_error_line(capsys) == f"error: {runs}:2: not a run record (longer than 0 MiB)\n"
    runs.write_bytes(before[:-1])  # the same line, torn at the end: resume must not read it whole
    assert main(["bargain", "run", "--out", str(tmp_path / "x"), "--runs", "2", "--rounds", "1", "--resume"]) == 2
    assert "runs.jsonl:2: not a run record (longer than 0 MiB)" in one_error_line(capsys)
    assert runs.read_bytes() == before[:-1]
