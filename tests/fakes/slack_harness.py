"""What the Slack bot's tests share: a small tuning "world" for the fake model server (a task
file and the server's substring rules) and a bot built from the real ``slack_bot`` code, served
over HTTP on 127.0.0.1 and talking to the fake Slack Web API.

The world: the task's original prompt gets the wrong answer (no label) for every review; the
optimizer (any request that shows the unrendered ``{{ text }}``) proposes GOOD, which carries a
marker word the fake target answers correctly; a rewrite request (one that quotes the wrong
answer) gets PLAIN, which the target gets wrong. So a run finds GOOD: 0% → 100%.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core import Settings, load_settings
from slack_bot.app import Bot, build_bot
from slack_bot.settings import BotLimits, BotSettings, SlackSecrets
from slack_bot.web import HttpServer
from tests.fakes.harness import FakeServer
from tests.fakes.slack_api import FakeSlackApi, SlackSender

SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
BOT_TOKEN = "xoxb-1234-5678-TOKENVALUEdoNOTLEAK"
TASK = "reviews"
SLOT = "{{ text }}"
WRONG = "UNSURE, it is a movie review"
MARKER = "ZEBRA"
ORIGINAL = f"Please read the following movie review and tell me what you think about it.\n\n{SLOT}"
GOOD = f"{MARKER} Answer with one word, positive or negative.\nReview: {SLOT}"
PLAIN = f"Classify the review as positive or negative.\nReview: {SLOT}"
REVIEWS = {
    "A joy from start to finish.": "positive",
    "Two hours of my life I will never get back.": "negative",
    "The best film I have seen this year.": "positive",
    "Dull, slow and far too long.": "negative",
    "I laughed, I cried, I bought the soundtrack.": "positive",
    "The plot made no sense at all.": "negative",
}


def proposal(prompt: str) -> str:
    return f"Sure! Here is a better prompt:\n<<<\n{prompt}\n>>>"


def world() -> dict[str, Any]:
    """``FakeServer.configure`` arguments for the world described above."""
    rules = [[WRONG, proposal(PLAIN)], [SLOT, proposal(GOOD)]]
    rules += [[f"{MARKER} Answer with one word, positive or negative.\nReview: {text}", label]
              for text, label in REVIEWS.items()]
    return {"rules": rules, "reply": f"fixed:{WRONG}"}


@dataclass
class Paths:
    root: Path
    config: Path       # the core's config file
    tasks: Path
    store: Path
    ledger: Path


def write_world(root: Path, model: FakeServer | None, **tune: Any) -> Paths:
    """The core's config (models on the fake server, store, runs, no cache) and the task file."""
    tasks = root / "tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    examples = [{"text": t, "expected": e} for t, e in REVIEWS.items()]
    (tasks / f"{TASK}.tune.yaml").write_text(json.dumps({
        "name": TASK, "description": "Label a movie review positive or negative.",
        "prompt": ORIGINAL, "metric": "label", "labels": ["positive", "negative"],
        "examples": examples}), encoding="utf-8")
    known = Settings().tune.model_dump()  # the core's tune settings differ between versions
    tune = {k: v for k, v in {"variations": 2, "refine_top": 1, "max_examples": len(REVIEWS),
                              "concurrency": 1, **tune}.items() if k in known}
    config: dict[str, Any] = {
        "store_path": str(root / "store.db"), "run_dir": str(root / "runs"),
        "cache": {"enabled": False}, "tune": tune,
        "retry": {"attempts": 2, "initial_s": 0.01, "max_s": 0.05, "jitter_s": 0.0},
    }
    if model is not None:
        config["models"] = {"target": f"openai:fake@{model.base_url}",
                            "optimizer": f"openai:fake-optimizer@{model.base_url}",
                            "judge": f"openai:fake-judge@{model.base_url}"}
        config["limits"] = {"max_in_flight": 1}
        config["prices"] = {"fake": {"input_per_mtok": 0.15, "output_per_mtok": 0.60}}
    path = root / "prompt-tuner.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return Paths(root, path, tasks, root / "store.db", root / "slack-bot.db")


def bot_settings(paths: Paths, api: FakeSlackApi, *, targets: dict[str, str] | None = None,
                 **limits: Any) -> BotSettings:
    return BotSettings(task_dir=paths.tasks, db_path=paths.ledger, api_url=api.base_url,
                       progress_interval_s=0.2, targets=targets or {}, limits=BotLimits(**limits))


@dataclass
class Running:
    bot: Bot
    server: HttpServer
    slack: SlackSender
    api: FakeSlackApi


@asynccontextmanager
async def running_bot(paths: Paths, api: FakeSlackApi, *, targets: dict[str, str] | None = None,
                      **limits: Any) -> AsyncIterator[Running]:
    """The real bot, served on 127.0.0.1 in this event loop, its Web API the fake; ``targets``
    are the operator's model aliases (the bot's ``targets`` setting)."""
    core = load_settings(config_file=paths.config)
    secrets = SlackSecrets(bot_token=SecretStr(BOT_TOKEN),
                           signing_secret=SecretStr(SIGNING_SECRET))
    bot = build_bot(bot_settings(paths, api, targets=targets, **limits), core, secrets)
    server = HttpServer(bot.bolt, "127.0.0.1", 0, "/slack/events")
    await server.start()
    try:
        yield Running(bot, server, SlackSender(server.url, SIGNING_SECRET, api), api)
    finally:
        await bot.close()
        await server.stop()
