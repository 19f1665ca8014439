"""The score predictor orders what is scored: proposals the store's history expects to gain the
most are sent to the target first, so that a budget that runs out mid-round has measured them.

An earlier run of the task (written into a real store, tests/fakes/stored_runs.py) shows
demonstrations gaining 40-50 points over their parent and a stated output format losing a few.
A real ``auto`` run of the tests/fakes/tuned_run.py world, one call at a time against the
loopback OpenAI fake, proposes the format first and the demonstrations after it; the server's
log shows the demonstrations' answers asked for before the format's, and a run that learns
nothing from the store keeps the strategy's order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from core import Store, load_task, tune
from tests.fakes.harness import FakeServer, loopback_settings
from tests.fakes.stored_runs import Run
from tests.fakes.tuned_run import P0, SLOT, rules, task_file

FORMAT = f"Answer with one word, positive or negative.\nReview: {SLOT}"
DEMOS: dict[str, Any] = {"mode": "knn", "k": 4, "indices": [], "placement": "turns"}


def _earlier_run(folder: Path) -> None:
    store = Store(folder / "store.db")
    try:
        run = Run(store, "e1", "films", "openai:fake@http://127.0.0.1:9/v1")
        run.add("e1-o", P0, range(10))
        for i, right in enumerate((range(24), range(25), range(23))):
            run.add(f"e1-d{i}", P0, right, parent="e1-o", strategy="auto/fewshot",
                    operator="demos", extras={"demos": {**DEMOS, "k": 2 + i}})
        for i, right in enumerate((range(9), range(8), range(10))):
            run.add(f"e1-f{i}", FORMAT.replace("one word", f"one word ({i})"), right,
                    parent="e1-o", strategy="auto", operator="format")
        run.finish()
    finally:
        store.close()


def _settings(server: FakeServer, folder: Path, **more: Any) -> Any:
    return loopback_settings(server, folder, {
        "tune.strategy": "auto", "tune.rounds": 1, "tune.variations": 4, "tune.seed": 7,
        "tune.warm_start": False, "tune.concurrency": 1, **more})


def _first_asks(server: FakeServer) -> list[str]:
    """Each round-1 candidate kind in the order its first target request arrived."""
    seen: list[str] = []
    for request in server.requests():
        messages = request.get("body", request).get("messages", [])
        text = str(messages[-1].get("content", "")) if messages else ""
        if not text.startswith("Review: film") or "Answer with" not in text:
            continue  # the optimizer's requests, the original and its rewordings
        kind = "demos" if any(m.get("role") == "assistant" for m in messages) else "format"
        if kind not in seen:
            seen.append(kind)
    return seen


def _run(server: FakeServer, folder: Path, **more: Any) -> list[str]:
    """A run on a store holding only the earlier run (not the other test run's)."""
    folder.mkdir()
    _earlier_run(folder)
    server.reset()
    server.configure(rules=rules(), reply="fixed:no idea")
    asyncio.run(tune(load_task(task_file(folder)), _settings(server, folder, **more)))
    return _first_asks(server)


def test_the_proposals_the_history_favours_are_scored_first(fake_openai: FakeServer,
                                                            tmp_path: Path) -> None:
    cold = _run(fake_openai, tmp_path / "cold", **{"tune.predictor": False})
    assert cold == ["format", "demos"]  # the strategy's order
    assert _run(fake_openai, tmp_path / "learnt") == ["demos", "format"]
