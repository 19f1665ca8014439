"""A film-review task with fixed train/dev/test splits and a strategy that proposes exactly the
candidates a test names (in round 1, none after), so a test decides every prompt the engine
scores and, through the fake server's rules, every answer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import core.plugins
from core import Candidate, Example, Message, Settings, Task, load_settings
from core.strategies import StrategyContext
from tests.fakes.films import label, review
from tests.fakes.harness import FakeServer

ORIGINAL = "Review: {{ text }}"


def split_task(train: int, dev: int, test: int) -> Task:
    """Films 0.. in order: the first ``train`` are train, then dev, then test."""
    n = train + dev + test
    examples = tuple(Example(inputs={"text": review(i)}, expected=label(i)) for i in range(n))
    return Task(name="films", description="Label a film review positive or negative.",
                messages=(Message("user", ORIGINAL),), examples=examples, metric="label",
                labels=("positive", "negative"),
                splits={"train": tuple(range(train)), "dev": tuple(range(train, train + dev)),
                        "test": tuple(range(train + dev, n))})


def dev_indices(task: Task) -> tuple[int, ...]:
    return task.splits["dev"]


class Scripted:
    name = "scripted"

    def __init__(self, made: Sequence[Candidate]) -> None:
        self.made = list(made)

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        if ctx.round != 1:
            return []
        original = Candidate(ctx.task.messages)
        return [Candidate(c.messages, parents=(original.id,), strategy="scripted",
                          operator=c.operator, generation=1, demos=c.demos,
                          answer_prefix=c.answer_prefix) for c in self.made]


def use_scripted(monkeypatch: pytest.MonkeyPatch, made: Sequence[Candidate]) -> None:
    """Make ``tune.strategy: scripted`` propose ``made`` (undone after the test)."""
    monkeypatch.setitem(core.plugins.load().items["strategy"], "scripted",
                        lambda: Scripted(made))


def settings_for(server: FakeServer, tmp: Path, **flags: Any) -> Settings:
    spec = f"openai:fake@{server.base_url}"
    settings = load_settings(flags={
        "models.target": spec, "models.optimizer": spec, "store_path": str(tmp / "s.db"),
        "run_dir": str(tmp / "runs"), "cache.enabled": False, "tune.strategy": "scripted",
        "tune.rounds": 1, "tune.variations": 2, "tune.faithfulness": "off", **flags}).settings
    return settings


def prompt(text: str, **changes: Any) -> Candidate:
    return Candidate((Message("user", text),), **changes)
