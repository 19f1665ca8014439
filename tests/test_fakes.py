"""The fake model server itself: wire shapes, faults, control API, concurrency."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from tests.fakes import fixtures
from tests.fakes.fixtures import StartFakeServer
from tests.fakes.harness import FakeServer

# The fixtures, until the project's conftest provides them.
fake_server = fixtures.fake_server
fake_openai = fixtures.fake_openai

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+2?"},
]


def chat(server: FakeServer, client: httpx.Client | None = None, **extra: Any) -> httpx.Response:
    """POST one chat request in the server's wire format."""
    if server.flavor == "anthropic":
        url = f"{server.base_url}/v1/messages"
        body: dict[str, Any] = {"model": "m", "max_tokens": 32, "system": "Be brief.",
                                "messages": MESSAGES[1:]}
        headers = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
    else:
        url = f"{server.base_url}/chat/completions"
        body = {"model": "m", "messages": MESSAGES, "max_tokens": 32, "temperature": 0.0}
        headers = {"authorization": "Bearer sk-test"}
    body.update(extra)
    if client is None:
        return httpx.post(url, json=body, headers=headers, timeout=5.0)
    return client.post(url, json=body, headers=headers, timeout=5.0)


@pytest.mark.parametrize("flavor", ["openai", "huggingface", "anthropic"])
def test_echo_reply_has_each_flavors_shape(fake_server: StartFakeServer, flavor: str) -> None:
    server = fake_server(flavor)
    data = chat(server).json()
    if flavor == "anthropic":
        assert data["type"] == "message" and data["role"] == "assistant"
        assert data["content"] == [{"type": "text", "text": "echo: What is 2+2?"}]
        assert data["stop_reason"] == "end_turn"
        assert data["usage"] == {"input_tokens": len("Be brief.What is 2+2?") // 4 + 1,
                                 "output_tokens": len("echo: What is 2+2?") // 4 + 1}
    else:
        assert data["object"] == "chat.completion"
        assert data["choices"][0]["message"] == {"role": "assistant",
                                                 "content": "echo: What is 2+2?"}
        usage = data["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [logged] = server.requests()
    assert logged["status"] == 200 and logged["fault"] is None
    assert logged["body"]["model"] == "m"
    assert set(logged["headers"]) <= {"authorization", "x-api-key", "anthropic-version"}


def test_rate_limit_carries_retry_after_then_next_request_succeeds(
    fake_openai: FakeServer,
) -> None:
    fake_openai.faults({"kind": "429", "retry_after": 1.0})
    limited = chat(fake_openai)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert chat(fake_openai).status_code == 200
    assert [r["fault"] for r in fake_openai.requests()] == ["429", None]


def test_error_shapes_per_flavor(fake_server: StartFakeServer) -> None:
    anthropic, hf = fake_server("anthropic"), fake_server("huggingface")
    anthropic.faults({"kind": "529"}, {"kind": "context"})
    overloaded = chat(anthropic)
    assert overloaded.status_code == 529
    assert overloaded.json()["error"]["type"] == "overloaded_error"
    too_long = chat(anthropic)
    assert too_long.status_code == 400 and "prompt is too long" in too_long.text
    hf.faults({"kind": "503"}, {"kind": "context"})
    loading = chat(hf)
    assert loading.status_code == 503
    assert loading.json() == {"error": "Model is loading", "estimated_time": 1.5}
    assert "maximum context length" in chat(hf).json()["error"]


def test_drop_closes_the_connection_without_a_response(fake_openai: FakeServer) -> None:
    fake_openai.faults({"kind": "drop"})
    with httpx.Client() as client:
        with pytest.raises(httpx.TransportError):
            chat(fake_openai, client)
        assert chat(fake_openai, client).status_code == 200
    assert [r["status"] for r in fake_openai.requests()] == [0, 200]


def test_malformed_is_a_200_that_is_not_json(fake_openai: FakeServer) -> None:
    fake_openai.faults({"kind": "malformed"})
    response = chat(fake_openai)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_down_drops_every_request_until_up_again(fake_openai: FakeServer) -> None:
    fake_openai.configure(down=True)
    for _ in range(2):
        with pytest.raises(httpx.TransportError):
            chat(fake_openai)
    fake_openai.configure(down=False)
    assert chat(fake_openai).status_code == 200
    assert [r["fault"] for r in fake_openai.requests()] == ["down", "down", None]


def test_rules_pick_replies_and_reset_restores_echo(fake_openai: FakeServer) -> None:
    fake_openai.configure(reply="fixed:no idea", rules=[["2+2", "4"]])
    assert chat(fake_openai).json()["choices"][0]["message"]["content"] == "4"
    other = chat(fake_openai, messages=[{"role": "user", "content": "Capital of France?"}])
    assert other.json()["choices"][0]["message"]["content"] == "no idea"
    fake_openai.reset()
    assert fake_openai.log()["count"] == 0
    assert chat(fake_openai).json()["choices"][0]["message"]["content"] == "echo: What is 2+2?"


def test_stream_sends_deltas_and_cut_stream_breaks_off(fake_openai: FakeServer) -> None:
    lines = chat(fake_openai, stream=True).text.splitlines()
    events = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                   for e in events[:-1])
    assert text == "echo: What is 2+2?"
    fake_openai.faults({"kind": "cut_stream"})
    with pytest.raises(httpx.TransportError):
        chat(fake_openai, stream=True)


def test_peak_in_flight_counts_concurrent_requests(fake_server: StartFakeServer) -> None:
    server = fake_server("openai", latency=0.2)
    statuses: list[int] = []
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        statuses.append(chat(server).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    log = server.log()
    assert log["peak_in_flight"] == 8 and log["count"] == 8
    assert all(r["t_end"] - r["t_start"] >= 0.195 for r in log["requests"])  # uvloop timers: ms grain
    assert server.stderr() == ""
