"""Proposals an earlier run measured as losers are not paid for again (core.earlier).

An earlier run of the task is written into a real store (tests/fakes/stored_runs.py): there the
refine strategy's first proposal lost to the original. A real run of the tests/fakes/tuned_run.py
world against the loopback OpenAI fake proposes it again; it is rejected before any target call
(the server's log proves it), while a run that learns nothing from the store pays for it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from core import Candidate, Message, Store, load_task, tune
from core.earlier import earlier_losers, measured_before
from tests.fakes.harness import FakeServer, loopback_settings
from tests.fakes.stored_runs import Run
from tests.fakes.tuned_run import P0, P1, P2, rules, task_file

SENT_P1 = "Sentiment of this film review:"


def _settings(server: FakeServer, folder: Path, **more: Any) -> Any:
    return loopback_settings(server, folder, {
        "tune.strategy": "refine", "tune.rounds": 1, "tune.variations": 1, "tune.seed": 7,
        "tune.warm_start": False, **more})


def _earlier_run(folder: Path, target: str = "openai:fake@http://127.0.0.1:9/v1") -> None:
    store = Store(folder / "store.db")
    try:
        run = Run(store, "e1", "films", target)
        run.add("e1-o", P0, range(15))
        run.add("e1-p1", P1, range(5), parent="e1-o", strategy="refine", operator="vary")
        run.add("e1-p2", P2, range(25), parent="e1-o", strategy="refine", operator="vary")
        run.finish()
    finally:
        store.close()


def _sent(server: FakeServer) -> str:
    return "\n".join(json.dumps(r.get("body", r)) for r in server.requests())


def test_a_rerun_does_not_pay_again_for_an_earlier_runs_loser(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    _earlier_run(tmp_path)
    task = load_task(task_file(tmp_path))
    fake_openai.configure(rules=rules(), reply="fixed:no idea")
    result = asyncio.run(tune(task, _settings(fake_openai, tmp_path)))
    store = Store(tmp_path / "store.db")
    try:
        rows = store.candidates(result.run_id)
    finally:
        store.close()
    p1 = next(c for c in rows if json.loads(c["messages_json"])[0]["content"] == P1)
    assert p1["status"] == "rejected"
    assert ("measured in run e1 as `e1-p1`: -33 points against its parent on 30 dev examples; "
            "not paid for again") in p1["note"]
    assert SENT_P1 not in _sent(fake_openai)

    # learning nothing from the store (the bench's --cold): the same proposal is paid for
    fake_openai.reset()
    fake_openai.configure(rules=rules(), reply="fixed:no idea")
    asyncio.run(tune(task, _settings(fake_openai, tmp_path, **{"tune.predictor": False})))
    assert SENT_P1 in _sent(fake_openai)


def test_only_losers_of_the_same_task_and_model_count(tmp_path: Path) -> None:
    _earlier_run(tmp_path)
    store = Store(tmp_path / "store.db")
    try:
        other = Run(store, "e2", "films", "ollama:other")  # another model: says nothing here
        other.add("e2-o", P0, range(15))
        other.add("e2-p2", P2, range(1), parent="e2-o", strategy="refine", operator="vary")
        other.finish()
        found = earlier_losers(store, "films", "openai:fake@http://127.0.0.1:5/v1",
                               exclude_run="now")
        assert [(e.run_id, e.candidate_id) for e in found] == [("e1", "e1-p1")]  # not the winner
        assert earlier_losers(store, "news", "openai:fake", exclude_run="now") == []
        assert earlier_losers(store, "films", "openai:fake", exclude_run="e1") == []
    finally:
        store.close()
    same = Candidate((Message("user", P1),))
    reworded = Candidate((Message("user", P1.replace("Sentiment", "sentiment")),))
    with_demos = Candidate((Message("user", P1),), demos=None, answer_prefix="Answer:")
    got = measured_before([same, reworded, with_demos], found, threshold=0.99)
    assert set(got) == {same.id, reworded.id}  # a different answer line is another prompt
    assert measured_before([reworded], found, threshold=1.01) == {}  # exact repeats only


def test_a_rerun_reuses_the_answers_earlier_runs_received(fake_openai: FakeServer,
                                                          tmp_path: Path) -> None:
    """Same store, each run its own (fresh) response cache: the rerun's requests that the first
    run made are answered from the store, not sent; with ``cache.history`` off they are sent."""
    task = load_task(task_file(tmp_path))

    def run(cache: str, **more: Any) -> tuple[Any, int]:
        fake_openai.reset()
        fake_openai.configure(rules=rules(), reply="fixed:no idea")
        result = asyncio.run(tune(task, _settings(fake_openai, tmp_path, **{
            "cache.enabled": True, "cache.path": str(tmp_path / cache), **more})))
        return result, len(fake_openai.requests())

    first, sent_first = run("first.db", **{"tune.predictor": False})
    second, sent_second = run("second.db", **{"tune.predictor": False})
    replayed = sum(u["history_hits"] for u in second.usage.values())
    assert replayed > 0 and sent_second == sent_first - replayed
    assert second.calls == first.calls - replayed
    assert second.best.estimate.mean == first.best.estimate.mean  # the same answers, same scores
    _, sent_off = run("third.db", **{"tune.predictor": False, "cache.history": False})
    assert sent_off == sent_first
