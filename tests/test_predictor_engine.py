"""The score predictor in a real run (core.engine + core.predictor): a proposal the store's
history says loses to its parent on this target model is stored with the prediction and never
sent to the target; the loopback server's log proves it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from core import Store, load_settings, load_task, tune
from core.candidate import Candidate
from core.models.base import Message
from core.strategies.base import with_format
from tests.fakes.films import label, review
from tests.fakes.harness import FakeServer

SLOT = "{{ text }}"
ORIGINAL = f"Decide if the review is positive or negative. Answer with one word.\nReview: {SLOT}"
N = 40


def _sent_alone(server: FakeServer, sentence: str) -> int:
    """Requests that carried the sentence with no demonstrations (one user message)."""
    return sum(1 for r in server.requests()
               if len(r["body"]["messages"]) == 1 and sentence in r["body"]["messages"][0]["content"])


def _task(folder: Path) -> Path:
    rows = [{"text": review(i), "expected": label(i)} for i in range(N)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "task.yaml").write_text(
        "name: films\ndescription: Label a film review as positive or negative.\n"
        f"prompt: {json.dumps(ORIGINAL)}\ndataset: {{file: data.jsonl}}\n"
        "splits: {train: 0.3, dev: 0.7, seed: 0}\n"
        "metrics:\n  - {type: label, labels: [positive, negative]}\n")
    return folder / "task.yaml"


def _history(store: Store, target: str, format_child: Candidate, runs: int = 8) -> None:
    """Earlier runs on the same model, of another film task (so that what is skipped is a
    prediction, not a repeat of a measured prompt: see tests/test_earlier.py), where stating the
    format lost 20 points every time."""
    parent = Candidate((Message("user", ORIGINAL),))
    for r in range(runs):
        run = f"old{r}"
        store.create_run(run, task_name="films-old", task={"name": "films-old"}, settings={},
                         target=target, optimizer=target, judge="", metric="label")
        for cand, right, who in ((parent, lambda i: i % 5 != 0, ("original", "original")),
                                 (format_child, lambda i, r=r: i % 5 not in (0, 1 + r % 3),
                                  ("auto", "format"))):
            store.add_candidate(run, "films-old", candidate_id=cand.id, messages=cand.to_json(),
                                parents=list(cand.parents), strategy=who[0], operator=who[1],
                                generation=cand.generation, extras=cand.extras())
            for i in range(20):
                store.record_evaluation(run, cand.id, i, inputs={"text": review(i)},
                                        expected=label(i), answer="x", score=float(right(i)),
                                        reason="", response_key=f"{run}{cand.id}{i}", split="dev")
        store.finish_run(run, status="finished", original_id=parent.id, best_id=parent.id,
                         original_score=0.8, best_score=0.8)


def test_a_predicted_loser_is_recorded_and_never_sent_to_the_target(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    task = load_task(_task(tmp_path))
    fmt = with_format(Candidate(task.messages), task, strategy="auto", generation=1,
                      train=task.split("train"))
    assert fmt is not None
    sentence = fmt.messages[0].content.splitlines()[-1]
    spec = f"openai:fake@{fake_openai.base_url}"
    store = Store(tmp_path / "store.db")
    try:
        _history(store, spec, fmt)
    finally:
        store.close()
    fake_openai.configure(rules=[[ORIGINAL.replace(SLOT, review(i)), label(i)] for i in range(N)],
                          reply="fixed:no idea")
    settings = load_settings(flags={
        "models.target": spec, "models.optimizer": spec, "store_path": str(tmp_path / "store.db"),
        "run_dir": str(tmp_path / "runs"), "cache.enabled": False, "tune.strategy": "auto",
        "tune.rounds": 1, "tune.variations": 3, "tune.seed": 3, "tune.warm_start": False,
        "tune.faithfulness_retries": 0}).settings
    result = asyncio.run(tune(task, settings))
    assert _sent_alone(fake_openai, sentence) == 0
    store = Store(tmp_path / "store.db")
    try:
        rows = {c["id"]: c for c in store.candidates(result.run_id)}
        assert rows[fmt.id]["status"] == "rejected"
        assert "predicted to lose to its parent" in rows[fmt.id]["note"]
        preds = {p["candidate_id"]: p for p in store.predictions(result.run_id)}
        assert preds[fmt.id]["skipped"] == 1 and preds[fmt.id]["ci_high"] < 0
        assert preds[fmt.id]["support"] >= 8
        # the other proposals were predicted (no history: no opinion) and scored
        scored = [p for p in preds.values() if not p["skipped"]]
        assert scored and all(rows[p["candidate_id"]]["status"] != "rejected" for p in scored)
    finally:
        store.close()

    # switched off: the same proposal is scored
    fake_openai.reset()
    asyncio.run(tune(task, settings.model_copy(update={
        "tune": settings.tune.model_copy(update={"predictor": False})})))
    assert _sent_alone(fake_openai, sentence) > 0
