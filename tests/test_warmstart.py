"""Warm start (core.warmstart): a run on a task like an earlier one begins with what won there.

Real runs against the loopback OpenAI fake (tests/fakes/tuned_run.py's world, where the refine
optimizer turns P0 into P1 and on to P4), on one SQLite store shared by the runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from core import Store, load_task, tune
from core.warmstart import precedents, seeds
from tests.fakes.harness import FakeServer, loopback_settings
from tests.fakes.tuned_run import P0, P4, rules, task_file


def _settings(server: FakeServer, folder: Path, **more: Any) -> Any:
    return loopback_settings(server, folder, {
        "tune.strategy": "refine", "tune.rounds": 3, "tune.variations": 2,
        "tune.refine_top": 2, "tune.patience": 3, "tune.seed": 7, **more})


def _first_round(store_path: Path, run_id: str) -> list[dict[str, Any]]:
    store = Store(store_path)
    try:
        return [c for c in store.candidates(run_id) if c["round"] == 1]
    finally:
        store.close()


def test_a_rerun_begins_with_the_earlier_winner_and_a_new_store_does_not(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    fake_openai.configure(rules=rules(), reply="fixed:no idea")
    task = load_task(task_file(tmp_path))
    first = asyncio.run(tune(task, _settings(fake_openai, tmp_path)))
    assert first.improved and first.best.candidate.messages[0].content == P4
    assert not any(c["strategy"] == "warm" for c in _first_round(tmp_path / "store.db",
                                                                  first.run_id))

    fake_openai.reset()
    fake_openai.configure(rules=rules(), reply="fixed:no idea")
    second = asyncio.run(tune(task, _settings(fake_openai, tmp_path, **{"tune.rounds": 1})))
    warm = [c for c in _first_round(tmp_path / "store.db", second.run_id)
            if c["strategy"] == "warm"]
    assert [c["operator"] for c in warm] == ["pattern", "transfer"]
    # the pattern: the team's instruction with the answer format the winner states
    pattern = json.loads(warm[0]["messages_json"])[0]["content"]
    assert pattern.startswith(P0) and "Answer with exactly one of these words" in pattern
    assert json.loads(warm[1]["messages_json"])[0]["content"] == P4
    assert all(first.run_id in c["note"] for c in warm)
    # the earlier winner's prompt was sent to the target in the first round: it was scored
    sent = [json.dumps(r.get("body", r)) for r in fake_openai.requests()]
    assert any("Answer with exactly one word, positive or negative" in s for s in sent)
    assert second.best.candidate.messages[0].content == P4

    # switched off: no warm candidate
    third = asyncio.run(tune(task, _settings(fake_openai, tmp_path, **{
        "tune.rounds": 1, "tune.warm_start": False})))
    assert not any(c["strategy"] == "warm"
                   for c in _first_round(tmp_path / "store.db", third.run_id))


def test_a_similar_task_gets_the_pattern_on_its_own_instruction(tmp_path: Path) -> None:
    """The winner's demonstrations and stated format go onto the new task's instruction; its
    wording does not, when the slots differ."""
    from core.candidate import Candidate, Demos
    from core.models.base import Message

    task = load_task(task_file(tmp_path))
    store = Store(tmp_path / "store.db")
    try:
        winner = Candidate((Message("user", P4),), demos=Demos("fixed", 4, (0, 1, 2, 3)))
        original = Candidate((Message("user", P0),))
        store.create_run("r1", task_name="films", task=task.model_dump(mode="json"),
                         settings={}, target="embedded", optimizer="embedded", judge="embedded",
                         metric="label")
        for c in (original, winner):
            store.add_candidate("r1", "films", candidate_id=c.id, messages=c.to_json(),
                                parents=[], strategy="refine", operator="vary", generation=0,
                                note="", extras=c.extras(), round=0)
        store.finish_run("r1", status="finished", original_id=original.id, best_id=winner.id,
                         original_score=0.3, best_score=0.8, result={})
        other = task.model_copy(update={
            "name": "film-reviews", "messages": (Message("user", "Film review:\n{{ review }}"),),
            "examples": tuple(e.model_copy(update={"inputs": {"review": e.inputs["text"]}})
                              for e in task.examples)})
        found = precedents(store, other, "embedded")
        assert [p.run_id for p in found] == ["r1"] and found[0].similarity > 0.6
        assert not found[0].same_slots and found[0].same_answers
        # a different target's precedent still counts, after the same target's
        assert precedents(store, other, "openai:gpt-4o-mini")[0].run_id == "r1"
        train = other.split("train")
        made = seeds(other, Candidate(other.messages), found, train)
        assert len(made) == 1
        pattern = made[0]
        main = pattern.messages[0].content
        assert main.startswith("Film review:\n{{ review }}") and "Answer with exactly one" in main
        assert "Decide if the review" not in main  # the other prompt's wording stays there
        assert pattern.demos == Demos("knn", 4, (), "turns")
        assert (pattern.strategy, pattern.operator) == ("warm", "pattern")
        # an unrelated task has no precedent
        maths = other.model_copy(update={
            "name": "maths", "description": "Add two whole numbers.",
            "messages": (Message("user", "What is {{ a }} plus {{ b }}?"),),
            "examples": ()})
        assert precedents(store, maths, "embedded") == []
    finally:
        store.close()


@pytest.mark.parametrize("status", ["failed", "running"])
def test_unfinished_or_failed_runs_are_no_precedent(tmp_path: Path, status: str) -> None:
    task = load_task(task_file(tmp_path))
    store = Store(tmp_path / "store.db")
    try:
        store.create_run("r1", task_name="films", task=task.model_dump(mode="json"),
                         settings={}, target="embedded", optimizer="embedded", judge="embedded",
                         metric="label")
        if status == "failed":
            store.finish_run("r1", status="failed", error="boom")
        assert precedents(store, task, "embedded") == []
    finally:
        store.close()



def test_a_rerun_led_by_the_earlier_winner_stops_after_one_round_without_gain(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    """The earlier run did this search already: once its winner leads, one round that cannot
    beat it ends the rerun (patience 1), where a cold run waits ``tune.patience`` rounds."""
    fake_openai.configure(rules=rules(), reply="fixed:no idea")
    task = load_task(task_file(tmp_path))
    first = asyncio.run(tune(task, _settings(fake_openai, tmp_path, **{"tune.rounds": 4})))
    assert first.best.candidate.messages[0].content == P4

    fake_openai.reset()
    fake_openai.configure(rules=rules(), reply="fixed:no idea")
    second = asyncio.run(tune(task, _settings(fake_openai, tmp_path, **{"tune.rounds": 4})))
    assert second.best.candidate.strategy == "warm"
    assert second.best.candidate.operator == "transfer"
    store = Store(tmp_path / "store.db")
    try:
        rounds = {run: [r["round"] for r in store.rounds(run)]
                  for run in (first.run_id, second.run_id)}
    finally:
        store.close()
    assert rounds[first.run_id] == [0, 1, 2, 3, 4]
    assert rounds[second.run_id] == [0, 1, 2]
    assert second.calls < first.calls
