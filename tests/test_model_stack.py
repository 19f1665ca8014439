"""The call stack against real loopback servers speaking each provider's wire format.

Every fault is injected by the fake server (tests/fakes), and every claim is checked from the
server's own request log: what it received, when, and how many at once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from core.errors import MalformedResponse, ModelError, ModelUnavailable, RequestRejected
from core.models.base import Adapter, Message, Request
from core.models.cache import ResponseCache
from core.models.http import Timeouts, server_line
from core.models.limits import RateLimits
from core.models.pool import Pool
from core.models.providers import AnthropicAdapter, HuggingFaceAdapter, OpenAIAdapter
from core.models.stack import ModelClient, RetryPolicy
from core.redact import Redactor
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer
from tests.fakes.raw_http import RawServer, http_response

FLAVORS = ["openai", "anthropic", "huggingface"]
ADAPTERS: dict[str, Any] = {
    "openai": OpenAIAdapter, "anthropic": AnthropicAdapter, "huggingface": HuggingFaceAdapter,
}


def adapter_for(server: FakeServer, *, read_timeout: float = 5.0) -> Adapter:
    cls = ADAPTERS[server.flavor]
    adapter: Adapter = cls("fake-model", server.base_url, api_key="test-key",
                           timeouts=Timeouts(connect=2, read=read_timeout, write=2, pool=2,
                                             total=read_timeout + 1))
    return adapter


_open: list[ModelClient] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> Any:
    yield
    while _open:
        client = _open.pop()
        await client.aclose()
        if client.cache is not None:
            client.cache.close()


def client_for(
    adapter: Adapter, tmp_path: Path | None = None, *, attempts: int = 4,
    ttl: float | None = None, limits: RateLimits | None = None, initial_s: float = 0.05,
    max_s: float = 2.0,
) -> ModelClient:
    cache = ResponseCache(tmp_path / "cache.db", ttl_s=ttl) if tmp_path is not None else None
    client = ModelClient(f"{adapter.kind}:fake-model", adapter, cache=cache,
                         limits=limits or RateLimits(max_in_flight=16),
                         retry=RetryPolicy(attempts=attempts, initial_s=initial_s, max_s=max_s,
                                           jitter_s=0.0))
    _open.append(client)
    return client


def req(text: str = "hello", **params: Any) -> Request:
    return Request.chat([Message("user", text)], **params)


def starts(server: FakeServer) -> list[float]:
    return [r["t_start"] for r in server.requests()]


# -- retries ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("flavor", FLAVORS)
async def test_transient_errors_are_retried_with_growing_backoff(
    fake_server: StartFakeServer, flavor: str
) -> None:
    server = fake_server(flavor)
    server.faults({"kind": "500"}, {"kind": "503"}, {"kind": "500"})
    client = client_for(adapter_for(server), initial_s=0.1)
    completion = await client.complete(req("ping"))
    assert completion.text == "echo: ping"
    t = starts(server)
    assert [r["status"] for r in server.requests()] == [500, 503, 500, 200]
    gaps = [b - a for a, b in itertools.pairwise(t)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.18 and gaps[2] >= 0.36  # 0.1, 0.2, 0.4 s
    assert client.usage.retries == 3 and client.usage.calls == 1


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_gives_up_after_the_configured_attempts_naming_model_endpoint_and_failure(
    fake_server: StartFakeServer, flavor: str
) -> None:
    server = fake_server(flavor)
    server.faults(*[{"kind": "503"}] * 5)
    client = client_for(adapter_for(server), attempts=3, initial_s=0.01)
    with pytest.raises(ModelUnavailable) as err:
        await client.complete(req())
    assert len(server.requests()) == 3
    message = str(err.value)
    assert "fake-model" in message and server.base_url in message and "503" in message
    assert "3 attempts" in message


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_retry_after_is_honoured(fake_server: StartFakeServer, flavor: str) -> None:
    server = fake_server(flavor)
    server.faults({"kind": "429", "retry_after": 1.0})
    client = client_for(adapter_for(server), initial_s=0.01)
    await client.complete(req())
    t = starts(server)
    assert len(t) == 2 and t[1] - t[0] >= 0.95


async def test_huggingface_loading_503_waits_the_estimated_time(
    fake_server: StartFakeServer,
) -> None:
    server = fake_server("huggingface")
    server.faults({"kind": "503", "estimated_time": 0.6})
    client = client_for(adapter_for(server), initial_s=0.01)
    await client.complete(req())
    t = starts(server)
    assert len(t) == 2 and t[1] - t[0] >= 0.55


async def test_anthropic_overloaded_529_is_retried(fake_server: StartFakeServer) -> None:
    server = fake_server("anthropic")
    server.faults({"kind": "529"})
    client = client_for(adapter_for(server), initial_s=0.01)
    assert (await client.complete(req("x"))).text == "echo: x"
    assert [r["status"] for r in server.requests()] == [529, 200]


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("kind", ["400", "401"])
async def test_client_errors_are_not_retried(
    fake_server: StartFakeServer, flavor: str, kind: str
) -> None:
    server = fake_server(flavor)
    server.faults({"kind": kind})
    client = client_for(adapter_for(server), initial_s=0.01)
    with pytest.raises(RequestRejected) as err:
        await client.complete(req())
    assert len(server.requests()) == 1
    if kind == "401":
        assert "API key" in str(err.value)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("kind", ["malformed", "drop"])
async def test_garbage_and_dropped_connections_are_retried(
    fake_server: StartFakeServer, flavor: str, kind: str
) -> None:
    server = fake_server(flavor)
    server.faults({"kind": kind})
    client = client_for(adapter_for(server), initial_s=0.01)
    assert (await client.complete(req("x"))).text == "echo: x"
    assert len(server.requests()) == 2 and client.usage.retries == 1


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_a_hang_past_the_timeout_is_cut_and_retried(
    fake_server: StartFakeServer, flavor: str
) -> None:
    server = fake_server(flavor)
    server.faults({"kind": "hang", "seconds": 30})
    client = client_for(adapter_for(server, read_timeout=0.5), initial_s=0.01)
    started = time.monotonic()
    assert (await client.complete(req("x"))).text == "echo: x"
    assert time.monotonic() - started < 5
    assert len(server.requests()) == 2


# -- replies that are not HTTP as it should be ------------------------------------------------------

GOOD_REPLY = http_response(200, b'{"choices": [{"message": {"role": "assistant", "content": "ok"}, '
                                b'"finish_reason": "stop"}]}')
BROKEN_REPLIES = {
    "bad status line": b"HTTP/1.1 abc\r\n\r\n",
    "not HTTP at all": b"not http at all\r\n\r\n",
    "NUL bytes": b"\x00" * 64,
    "body longer than Content-Length": b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{"choices": []}',
    "negative Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "broken chunking": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n",
    "too many headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(500))
                        + b"Content-Length: 2\r\n\r\n{}",
    "a header line too long": b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 20000 + b"\r\n\r\n",
    "data after a 204": http_response(204, b'{"id": ""}'),
    "Transfer-Encoding and Content-Length": http_response(529, b"", headers={"Transfer-Encoding": "-1"}),
    "gzip that is not": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
    "deflate that is not": b"HTTP/1.1 500 X\r\nContent-Encoding: deflate\r\nContent-Length: 4\r\n\r\nnope",
}


@pytest.mark.parametrize("reply", list(BROKEN_REPLIES.values()), ids=list(BROKEN_REPLIES))
async def test_a_reply_with_broken_framing_or_encoding_is_one_malformed_response_line(
    reply: bytes,
) -> None:
    with RawServer(lambda _request: reply) as server:
        adapter = OpenAIAdapter("m", server.base_url, timeouts=Timeouts(2, 2, 2, 2, 3))
        try:
            with pytest.raises(MalformedResponse) as err:
                await adapter.send(req())
        finally:
            await adapter.aclose()
    message = str(err.value)
    assert message.startswith("unreadable reply: ") and message.isprintable()
    assert "b'" not in message and "^" not in message and len(message) < 400


@pytest.mark.parametrize("broken", ["bad status line", "broken chunking", "gzip that is not"])
async def test_a_reply_with_broken_framing_is_retried(broken: str) -> None:
    replies = itertools.cycle([BROKEN_REPLIES[broken], GOOD_REPLY])
    with RawServer(lambda _request: next(replies)) as server:
        client = client_for(OpenAIAdapter("m", server.base_url, timeouts=Timeouts(2, 2, 2, 2, 3)),
                            attempts=2, initial_s=0.01)
        assert (await client.complete(req())).text == "ok"
    assert len(server.requests) == 2 and client.usage.retries == 1


async def test_a_servers_error_body_is_quoted_as_one_printable_line() -> None:
    text = "bad\nrequest\u0085second\u2028third\r\n\t\u001b[31mred\u001b[0m \u202eevil\u0000 " + "x " * 400
    body = json.dumps({"error": {"message": text}}).encode()
    with RawServer(lambda _request: http_response(422, body)) as server:
        adapter = OpenAIAdapter("m", server.base_url, timeouts=Timeouts(2, 2, 2, 2, 3))
        try:
            with pytest.raises(RequestRejected) as err:
                await adapter.send(req())
        finally:
            await adapter.aclose()
    quoted = str(err.value).partition("(HTTP 422): ")[2]
    assert quoted.startswith("bad request second third red evil x x") and quoted.isprintable()
    assert len(quoted) <= 300 + len(" (the request was refused; retrying will not help)")


def test_a_long_server_text_is_cut_between_words_so_no_key_prefix_survives() -> None:
    key = "sk-echoed-secret-0123456789"
    for pad in range(260, 300):  # wherever the cut falls, the key is whole or gone
        line = server_line("w" * pad + " " + key + " tail " * 10)
        assert key in line or "sk-" not in line
    assert server_line(" " * 5000 + key) in ("…", key + "…")
    assert "sk-" not in server_line(" " * 1190 + key)


# -- reasoning models -------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["o1-mini", "o3", "o4-mini", "gpt-5-nano"])
async def test_a_reasoning_model_gets_max_completion_tokens_and_no_sampling_fields(
    fake_server: StartFakeServer, model: str
) -> None:
    server = fake_server("openai")  # answers these names as OpenAI does: 400 per refused field
    client = client_for(OpenAIAdapter(model, server.base_url))
    first = await client.complete(req("one", max_tokens=40, stop=["\n"]))
    second = await client.complete(req("two", max_tokens=50))
    assert (first.text, second.text) == ("echo: one", "echo: two")
    sent = server.requests()
    refused = [r["body"] for r in sent if r["status"] == 400]
    assert [b.keys() & {"max_tokens", "stop", "temperature"} for b in refused] == [
        {"max_tokens", "stop", "temperature"}, {"stop", "temperature"}, {"temperature"}]
    assert [r["status"] for r in sent] == [400, 400, 400, 200, 200]  # learned once, then right
    body = sent[-1]["body"]
    assert body["max_completion_tokens"] == 50
    assert not body.keys() & {"max_tokens", "temperature", "stop"}


async def test_other_models_keep_max_tokens_and_other_400s_are_not_adapted_to(
    fake_server: StartFakeServer,
) -> None:
    server = fake_server("openai")
    client = client_for(adapter_for(server))
    await client.complete(req("x", max_tokens=7, temperature=0.3))
    body = server.requests()[0]["body"]
    assert (body["max_tokens"], body["temperature"]) == (7, 0.3)
    server.faults({"kind": "400"})  # "Invalid value for 'temperature'", but no param/code pair
    with pytest.raises(RequestRejected):
        await client.complete(req("y"))
    assert len(server.requests()) == 2


# -- limits -----------------------------------------------------------------------------------------

async def test_max_in_flight_is_reached_and_never_exceeded(fake_server: StartFakeServer) -> None:
    server = fake_server("openai", latency=0.15)
    client = client_for(adapter_for(server), limits=RateLimits(max_in_flight=4))
    async with asyncio.TaskGroup() as group:
        for i in range(20):
            group.create_task(client.complete(req(f"r{i}")))
    assert server.log()["peak_in_flight"] == 4
    assert client.limiter.peak_in_flight == 4


async def test_requests_per_minute_limit_spaces_request_starts(
    fake_server: StartFakeServer,
) -> None:
    server = fake_server("openai")
    client = client_for(adapter_for(server), limits=RateLimits(rpm=600, max_in_flight=8))
    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        for i in range(8):
            group.create_task(client.complete(req(f"r{i}")))
    assert time.monotonic() - started >= 0.65  # 8 starts at one per 0.1 s
    t = sorted(starts(server))
    gaps = [b - a for a, b in itertools.pairwise(t)]
    assert min(gaps) >= 0.08
    # no sliding window of 60 s / 600 = 0.1 s holds more than one start (plus clock slack)
    assert all(sum(1 for x in t if s <= x < s + 0.09) == 1 for s in t)


async def test_retries_count_against_the_rate_limit(fake_server: StartFakeServer) -> None:
    server = fake_server("openai")
    server.faults({"kind": "500"})
    client = client_for(adapter_for(server), initial_s=0.0,
                        limits=RateLimits(rpm=300, max_in_flight=4))
    await client.complete(req())
    t = starts(server)
    assert len(t) == 2 and t[1] - t[0] >= 0.18  # 60 / 300 = 0.2 s between any two starts


# -- cache ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flavor", FLAVORS)
async def test_a_cached_request_sends_nothing(
    fake_server: StartFakeServer, flavor: str, tmp_path: Path
) -> None:
    server = fake_server(flavor)
    client = client_for(adapter_for(server), tmp_path)
    first = await client.complete(req("same"))
    second = await client.complete(req("same"))
    assert len(server.requests()) == 1
    assert not first.cached and second.cached and second.text == first.text
    assert client.usage.cache_hits == 1 and client.usage.calls == 1


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_an_expired_entry_is_fetched_again(
    fake_server: StartFakeServer, flavor: str, tmp_path: Path
) -> None:
    server = fake_server(flavor)
    client = client_for(adapter_for(server), tmp_path, ttl=0.3)
    await client.complete(req("same"))
    await client.complete(req("same"))
    assert len(server.requests()) == 1
    await asyncio.sleep(0.4)
    again = await client.complete(req("same"))
    assert len(server.requests()) == 2 and not again.cached


async def test_the_cache_survives_a_new_client(fake_server: StartFakeServer, tmp_path: Path) -> None:
    server = fake_server("openai")
    first = client_for(adapter_for(server), tmp_path)
    await first.complete(req("persist"))
    assert first.cache is not None
    first.cache.close()  # what a finished run does; a batched write must reach the disk
    hit = await client_for(adapter_for(server), tmp_path).complete(req("persist"))
    assert hit.cached and len(server.requests()) == 1


async def test_identical_concurrent_requests_are_sent_once(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("openai", latency=0.2)
    client = client_for(adapter_for(server), tmp_path)
    async with asyncio.TaskGroup() as group:
        jobs = [group.create_task(client.complete(req("twin"))) for _ in range(5)]
    assert len(server.requests()) == 1
    assert {j.result().text for j in jobs} == {"echo: twin"}


def test_every_sampling_parameter_and_the_seed_change_the_cache_key() -> None:
    adapter = OpenAIAdapter("m", "http://127.0.0.1:9/v1", api_key="k1")
    client = ModelClient("openai:m", adapter)
    base = req("x")
    variants = [
        req("x", temperature=0.5), req("x", top_p=0.9), req("x", max_tokens=17),
        req("x", seed=1), req("x", seed=None), req("x", stop=["\n"]),
        req("x", extra={"repeat_penalty": 1.1}), req("y"),
        Request.chat([Message("system", "x")]),
    ]
    keys = {client.key(v) for v in variants}
    assert client.key(base) not in keys and len(keys) == len(variants)
    assert client.key(req("x")) == client.key(base)


def test_the_cache_key_names_the_model_and_endpoint_but_never_the_api_key() -> None:
    a = ModelClient("a", OpenAIAdapter("m", "http://127.0.0.1:9/v1", api_key="secret-one"))
    b = ModelClient("b", OpenAIAdapter("m", "http://127.0.0.1:9/v1", api_key="secret-two"))
    other_model = ModelClient("c", OpenAIAdapter("n", "http://127.0.0.1:9/v1"))
    other_url = ModelClient("d", OpenAIAdapter("m", "http://127.0.0.1:8/v1"))
    other_kind = ModelClient("e", AnthropicAdapter("m", "http://127.0.0.1:9/v1"))
    keys = [c.key(req()) for c in (a, b, other_model, other_url, other_kind)]
    assert keys[0] == keys[1] and len(set(keys)) == 4


async def test_api_keys_never_reach_the_cache_file(
    fake_server: StartFakeServer, tmp_path: Path
) -> None:
    server = fake_server("anthropic")
    adapter = AnthropicAdapter("fake-model", server.base_url, api_key="sk-very-secret-123")
    client = client_for(adapter, tmp_path)
    await client.complete(req())
    assert client.cache is not None
    client.cache.flush()
    assert server.requests()[0]["headers"]["x-api-key"] == "sk-very-secret-123"
    for path in tmp_path.glob("cache.db*"):
        assert b"sk-very-secret-123" not in path.read_bytes()


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_a_key_the_server_echoes_is_redacted_from_answers_errors_and_the_cache(
    fake_server: StartFakeServer, tmp_path: Path, flavor: str
) -> None:
    key = "sk-echoed-secret-0123456789"
    server = fake_server(flavor)
    server.configure(echo_auth=True)
    adapter = ADAPTERS[flavor]("fake-model", server.base_url, api_key=key)
    client = client_for(adapter, tmp_path, attempts=2)
    client.redactor = Redactor([key, "another-configured-key"])
    answer = await client.complete(req("hi"))
    assert key in str(server.requests()[0]["headers"])
    assert answer.text.endswith("[redacted]]") and key not in answer.text
    server.faults({"kind": "500"}, {"kind": "500"}, {"kind": "401"})
    for i in range(2):  # given up after retries, then refused: both quote the server
        with pytest.raises(ModelError) as err:
            await client.complete(req(f"again {i}"))
        assert "[redacted]" in str(err.value) and key not in str(err.value)
        assert key not in repr(err.value.args)
    assert client.cache is not None
    client.cache.flush()
    assert all(key.encode() not in p.read_bytes() for p in tmp_path.glob("cache.db*"))


# -- pools ------------------------------------------------------------------------------------------

async def test_a_pool_spreads_load_by_least_outstanding_requests(
    fake_server: StartFakeServer,
) -> None:
    one, two = fake_server("openai", latency=0.05), fake_server("openai", latency=0.05)
    pool = Pool([adapter_for(one), adapter_for(two)])
    client = client_for(pool, limits=RateLimits(max_in_flight=8))  # type: ignore[arg-type]
    async with asyncio.TaskGroup() as group:
        for i in range(40):
            group.create_task(client.complete(req(f"r{i}")))
    a, b = len(one.requests()), len(two.requests())
    assert a + b == 40 and min(a, b) >= 15
    assert one.log()["peak_in_flight"] <= 5 and two.log()["peak_in_flight"] <= 5


async def test_a_pool_routes_around_a_server_that_is_down(fake_server: StartFakeServer) -> None:
    up, down = fake_server("openai"), fake_server("openai")
    down.configure(down=True)
    pool = Pool([adapter_for(down), adapter_for(up)], cooldown_s=60)
    client = client_for(pool, attempts=3, initial_s=0.01)  # type: ignore[arg-type]
    for i in range(10):
        assert (await client.complete(req(f"r{i}"))).text == f"echo: r{i}"
    assert len(up.requests()) == 10
    assert len(down.requests()) <= 1  # tried once, then cooled down
    assert pool.sent_per_endpoint()[up.base_url] == 10


# -- context length -----------------------------------------------------------------------------------

async def test_a_too_long_rejection_truncates_and_retries(fake_server: StartFakeServer) -> None:
    server = fake_server("openai")
    server.faults({"kind": "context"})
    client = client_for(adapter_for(server))
    long_text = "start " + "filler words " * 400 + " end"
    completion = await client.complete(req(long_text))
    bodies = [r["body"]["messages"][0]["content"] for r in server.requests()]
    assert len(bodies) == 2 and len(bodies[1]) < len(bodies[0])
    assert bodies[1].startswith("start") and bodies[1].endswith("end")
    assert "cut" in bodies[1] and completion.notes and "cut" in completion.notes[0]


async def test_a_prompt_longer_than_the_context_is_cut_before_sending(
    fake_server: StartFakeServer,
) -> None:
    server = fake_server("openai")
    adapter = OpenAIAdapter("fake-model", server.base_url, context_size=300)
    client = client_for(adapter)
    few_shot = [Message("system", "Label the sentiment."),
                Message("user", "great film"), Message("assistant", "positive"),
                Message("user", "awful film"), Message("assistant", "negative"),
                Message("user", "review: " + "so so " * 600)]
    completion = await client.complete(Request.chat(few_shot, max_tokens=32))
    sent = server.requests()[0]["body"]["messages"]
    assert adapter.count_tokens(Request.chat(
        [Message(m["role"], m["content"]) for m in sent])) <= 300 - 32
    assert sent[0]["content"] == "Label the sentiment."
    assert completion.notes


async def test_requests_go_through_the_proxy_named_in_the_environment(
    fake_server: StartFakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = fake_server("openai")  # a forward proxy sees the absolute URL; this one answers it
    monkeypatch.setenv("HTTP_PROXY", proxy.root_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    adapter = OpenAIAdapter("fake-model", "http://models.example.invalid/v1")
    client = client_for(adapter)
    assert (await client.complete(req("via proxy"))).text == "echo: via proxy"
    assert len(proxy.requests()) == 1
