"""The bot with the real embedded model (SmolLM2-135M in-process) in every role: a quick-form
``/tune`` is acknowledged at once while the model works for much longer in the background, and
the report still arrives in the thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_harness import running_bot, write_world

pytestmark = pytest.mark.slow


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as api:
        yield api


async def test_a_quick_tune_on_the_embedded_model_is_acked_at_once_and_reported(
    slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    paths = write_world(tmp_path, None, variations=1, refine_top=0, samples=2, rounds=1,
                        answer_max_tokens=32, proposal_max_tokens=64)
    async with running_bot(paths, slack_api) as bot:
        started = time.monotonic()
        response = await bot.slack.command(
            'Say hello to the team in one sentence --task "a friendly greeting" --budget 16')
        ack_s = time.monotonic() - started
        assert response.status_code == 200 and "Started run" in response.json()["text"]
        report = await slack_api.until(
            lambda a: next((m for m in a.posts("C0001") if m.text.startswith("Tuned ")), None),
            280, "the report")
        run_s = time.monotonic() - started
    assert ack_s < 3.0
    assert run_s > 5 * ack_s
    parent = next(m for m in slack_api.posts("C0001") if m.thread_ts is None)
    assert report.thread_ts == parent.ts
    text = str(report.blocks)
    assert "*Original*" in text and "*Winner*" in text and "(n=2)" in text
