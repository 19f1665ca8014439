"""A proposal that means what an already measured prompt says costs no target call: the engine
compares its instruction with the measured ones (MiniLM, offline) before racing it.

A real run against the loopback OpenAI fake: the optimizer answers every refine request with
the original prompt, its two answer words swapped; the server's log proves that the target never
read it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from core import Store, load_settings, load_task, tune
from tests.fakes.films import label, review
from tests.fakes.harness import FakeServer

SLOT = "{{ text }}"
ORIGINAL = f"Decide if the review is positive or negative. Answer with one word.\nReview: {SLOT}"
TWIN = f"Decide if the review is negative or positive. Answer with one word.\nReview: {SLOT}"
OTHER = ("Read the film review below and say whether the critic liked the film: answer with "
         f"exactly one word, positive or negative.\nReview: {SLOT}")
N = 40


def _world(proposal: str) -> list[list[str]]:
    target = [[p.replace(SLOT, review(i)), label(i) if i % 3 else "hmm"]
              for p in (ORIGINAL, TWIN, OTHER) for i in range(N)]
    target.sort(key=lambda rule: -len(rule[0]))
    return [[f"Old prompt: {ORIGINAL}", f"<<<\n{proposal}\n>>>"], *target]


def _run(server: FakeServer, folder: Path, proposal: str, **more: Any) -> tuple[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"text": review(i), "expected": label(i)} for i in range(N)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "task.yaml").write_text(
        "name: films\ndescription: Label a film review as positive or negative.\n"
        f"prompt: {json.dumps(ORIGINAL)}\ndataset: {{file: data.jsonl}}\n"
        "splits: {train: 0.3, dev: 0.7, seed: 0}\n"
        "metrics:\n  - {type: label, labels: [positive, negative]}\n")
    server.configure(rules=_world(proposal), reply="fixed:no idea")
    spec = f"openai:fake@{server.base_url}"
    settings = load_settings(flags={
        "models.target": spec, "models.optimizer": spec, "store_path": str(folder / "store.db"),
        "run_dir": str(folder / "runs"), "cache.enabled": False, "tune.strategy": "refine",
        "tune.rounds": 1, "tune.variations": 2, "tune.refine_top": 1, "tune.seed": 3,
        "tune.warm_start": False, **more}).settings
    result = asyncio.run(tune(load_task(folder / "task.yaml"), settings))
    return result.run_id, folder / "store.db"


def _target_reads(server: FakeServer, words: str) -> int:
    return sum(words in json.dumps(r) for r in server.requests())


def test_a_near_duplicate_proposal_is_stored_but_never_sent_to_the_target(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    run_id, store_path = _run(fake_openai, tmp_path / "twin", TWIN)
    assert _target_reads(fake_openai, "Decide if the review is negative or positive") == 0
    assert _target_reads(fake_openai, "Decide if the review is positive or negative") >= N // 2
    store = Store(store_path)
    try:
        twin = [c for c in store.candidates(run_id)
                if "negative or positive" in c["messages_json"]]
        assert len(twin) == 1 and twin[0]["status"] == "rejected"
        assert "near-duplicate of" in twin[0]["note"] and twin[0]["score"] is None
        assert store.evaluations(run_id, twin[0]["id"]) == []
    finally:
        store.close()


def test_a_different_proposal_is_measured_and_the_check_can_be_switched_off(
        fake_openai: FakeServer, tmp_path: Path) -> None:
    _run(fake_openai, tmp_path / "other", OTHER)
    assert _target_reads(fake_openai, "say whether the critic liked the film") > 0
    fake_openai.reset()
    _run(fake_openai, tmp_path / "off", TWIN, **{"tune.duplicate_threshold": 1.01})
    assert _target_reads(fake_openai, "Decide if the review is negative or positive") > 0
