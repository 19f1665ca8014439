"""A real three-round ``refine`` run against the fake OpenAI server, for the report tests.

The world (substring rules): the optimizer turns each prompt into a fixed better one, and the
target's answers depend on the prompt it reads, so the run has a history worth drawing: four
rounds, a candidate dropped while racing, a Pareto front, two metrics (``label`` and ``exact``)
that disagree, examples the winner fixed and one it broke, and a held-out check.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import TuneResult, load_settings, load_task, tune
from tests.fakes.films import label, review
from tests.fakes.harness import FakeServer

N = 60
SLOT = "{{ text }}"
P0 = f"Review: {SLOT}"
P1 = f"Sentiment of this film review: {SLOT}"
P2 = f"Decide if the review is positive or negative. Answer with one word.\nReview: {SLOT}"
P3 = f"Please label this film review for me, as positive or negative: {SLOT}"
P4 = ("Decide if the review is positive or negative. Answer with exactly one word, positive or "
      f"negative, and nothing else.\nReview: {SLOT}")


def answer(prompt: str, i: int) -> str:
    right = label(i)
    if prompt == P0:  # right on the great ones only, sometimes chatty (label yes, exact no)
        return ("It's positive!" if i % 3 == 0 else right) if i % 2 else "no idea"
    if prompt == P1:
        return "no idea" if i % 4 == 0 else f"It is {right}." if i % 4 == 1 else right
    if prompt == P2:
        return right if i % 10 else "hmm"
    if prompt == P3:
        return right if i % 3 else "unsure"
    # P4: right but for one review it gets wrong (broken) and one it over-explains
    return "no idea" if i == 31 else "positive, clearly" if i == 33 else right


def rules() -> list[list[str]]:
    meta = [[f"Old prompt: {P0}\nNew prompt:", f"<<<\n{P1}\n>>>"],
            [f"Old prompt: {P1}\nMistakes:", f"<<<\n{P2}\n>>>"],
            [f"Old prompt: {P0}\nMistakes:", f"<<<\n{P3}\n>>>"],
            [f"Old prompt: {P2}\nMistakes:", f"<<<\n{P4}\n>>>"]]
    target = [[p.replace(SLOT, review(i)), answer(p, i)]
              for p in (P0, P1, P2, P3, P4) for i in range(N)]
    target.sort(key=lambda rule: -len(rule[0]))  # a rendered prompt may contain a shorter one
    return meta + target


def task_file(folder: Path, *, n: int = N, heldout: bool = True) -> Path:
    rows = [{"text": review(i), "expected": label(i)} for i in range(n)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / "task.yaml"
    splits = "splits: {train: 0.2, dev: 0.5, test: 0.3, seed: 0}\n" if heldout else ""
    path.write_text("name: films\ndescription: Label a film review.\n"
                    f"prompt: '{P0}'\ndataset: {{file: data.jsonl}}\n{splits}"
                    "metrics:\n  - {type: label, labels: [positive, negative], weight: 2}\n"
                    "  - {type: exact}\n")
    return path


@dataclass(frozen=True)
class TunedRun:
    store: Path
    runs: Path
    result: TuneResult

    @property
    def run_id(self) -> str:
        return self.result.run_id


def tune_films(server: FakeServer, folder: Path, *, n: int = N, heldout: bool = True) -> TunedRun:
    """Run the tune in-process (a few tenths of a second) and return where it went."""
    folder.mkdir(parents=True, exist_ok=True)
    server.configure(rules=rules(), reply="fixed:no idea")
    spec = f"openai:fake@{server.base_url}"
    settings = load_settings(flags={
        "models.target": spec, "models.optimizer": spec, "models.judge": spec,
        "store_path": str(folder / "store.db"), "run_dir": str(folder / "runs"),
        "cache.enabled": False, "tune.strategy": "refine", "tune.rounds": 3,
        "tune.variations": 2, "tune.refine_top": 2, "tune.patience": 3, "tune.seed": 7,
    }).settings
    result = asyncio.run(tune(load_task(task_file(folder, n=n, heldout=heldout)), settings))
    return TunedRun(folder / "store.db", folder / "runs", result)


@contextmanager
def shared_run(tmp: pytest.TempPathFactory) -> Iterator[TunedRun]:
    """The run for a module-scoped fixture: its own fake server, and no developer's config,
    cache or ``PROMPT_TUNER_*`` variables (the autouse isolation is per test)."""
    with pytest.MonkeyPatch.context() as mp, FakeServer("openai") as server:
        home = tmp.mktemp("home")
        for key in ("HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            mp.setenv(key, str(home))
        for key in [k for k in os.environ if k.startswith("PROMPT_TUNER_")]:
            mp.delenv(key)
        yield tune_films(server, tmp.mktemp("run"))
