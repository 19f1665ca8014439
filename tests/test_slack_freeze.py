"""A prompt that would freeze the bot: ``{{ 10**10000000 }}`` (Jinja folded it while the slash
command was handled: a 13.6 s ack) and nested ``range`` loops (they rendered for hours on the
bot's only event loop). Sent as signed ``/tune`` commands to the real bot on 127.0.0.1: the ack
comes within Slack's 3 s, ``/healthz`` answers within 1 s all along, and the run stops with one
line in its thread. A prompt nested too deeply for Jinja's parser (a RecursionError, once "something
went wrong") is refused at the ack with one line."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.fixtures import StartFakeServer
from tests.fakes.slack_api import FakeSlackApi, Message
from tests.fakes.slack_harness import running_bot, world, write_world

CHANNEL = "C0001"
FREEZERS = {
    "a huge power": "{{ 10**10000000 }}",
    "nested loops": "Say {% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}"
                    "{% endfor %}",
    "silent nested loops": "Say hi{% for i in range(100000) %}{% for j in range(100000) %}"
                           "{% endfor %}{% endfor %}",
    "deep nesting": "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",  # refused at the ack
}


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


class HealthPoller:
    """``GET /healthz`` every 50 ms from its own thread (the bot serves from the test's event
    loop, so a blocked loop shows as a slow answer); the time of every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True, name="healthz-poller")

    async def __aenter__(self) -> HealthPoller:
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        # joined off the loop: a poll in flight needs the bot, which serves from this loop
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 15)

    def _poll(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    ok = client.get(self.url).json() == {"ok": True}
                except httpx.HTTPError:
                    ok = False
                self.times.append(time.monotonic() - started if ok else float("inf"))
                self._stop.wait(0.05)


def stopped_line(api: FakeSlackApi) -> Message | None:
    parent = next((m for m in api.posts(CHANNEL) if m.thread_ts is None), None)
    if parent is None:
        return None
    return next((m for m in api.thread(CHANNEL, parent.ts) if "stopped" in m.text), None)


@pytest.mark.parametrize("prompt", FREEZERS.values(), ids=FREEZERS.keys())
async def test_a_freezing_prompt_is_acked_in_time_and_the_bot_keeps_answering(
    fake_server: StartFakeServer, slack_api: FakeSlackApi, tmp_path: Path, prompt: str
) -> None:
    model = fake_server()
    model.configure(**world())
    paths = write_world(tmp_path, model)
    async with (running_bot(paths, slack_api) as bot,
                HealthPoller(f"http://127.0.0.1:{bot.server.port}/healthz") as health):
        started = time.monotonic()
        response = await bot.slack.command(prompt)
        ack_s = time.monotonic() - started
        ack = response.json()
        if "Started run" in ack["text"]:  # else refused at the ack, with one ephemeral line
            line = await slack_api.until(stopped_line, 30, "the failure line")
            text = line.text
        else:
            text = ack["text"]
        run_s = time.monotonic() - started
        await asyncio.sleep(0.5)  # and a little of the bot's life after it

    assert response.status_code == 200 and ack["response_type"] == "ephemeral"
    assert ack_s < 3.0, f"the ack took {ack_s:.1f} s"
    assert run_s < 20.0
    assert len(health.times) >= 3, health.times
    assert max(health.times) < 1.0, f"/healthz took up to {max(health.times):.2f} s"
    assert len(text.splitlines()) == 1, text
    lowered = text.lower()
    assert "traceback" not in lowered and "internal error" not in lowered
    assert "went wrong" not in lowered and "unexpected" not in lowered
    assert "prompt template" in text, text
