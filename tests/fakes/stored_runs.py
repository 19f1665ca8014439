"""Runs written straight into a real store through its own methods, for tests of what is learned
across runs (core.insights, core.predictor): candidates with parents and scored dev answers."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from core.store import Store

N = 30  # dev examples per candidate


class Run:
    def __init__(self, store: Store, run_id: str, task: str, target: str) -> None:
        self.store, self.id, self.task = store, run_id, task
        store.create_run(run_id, task_name=task, task={"name": task}, settings={},
                         target=target, optimizer="ollama:opt", judge="", metric="exact")

    def add(self, cid: str, text: str, right: Container[int], *, parent: str | None = None,
            strategy: str = "original", operator: str = "original",
            extras: dict[str, Any] | None = None, split: str = "dev",
            scored: bool = True) -> None:
        """A candidate answering the examples in ``right`` right (of N); ``scored=False``: stored
        but never scored."""
        self.store.add_candidate(self.id, self.task, candidate_id=cid,
                                 messages=[{"role": "user", "content": text}],
                                 parents=[parent] if parent else [], strategy=strategy,
                                 operator=operator, generation=1 if parent else 0, extras=extras)
        if not scored:
            return
        for i in range(N):
            self.store.record_evaluation(
                self.id, cid, i, inputs={"text": f"review {i}"}, expected="positive",
                answer="positive" if i in right else "no idea", score=float(i in right),
                reason="", response_key=f"{cid}:{i}", split=split)
        score = sum(1 for i in range(N) if i in right) / N
        self.store.set_candidate_score(self.id, cid, score=score, low=0.0, high=1.0, n=N,
                                       status="evaluated")

    def finish(self, status: str = "finished") -> None:
        self.store.finish_run(self.id, status=status, original_id=f"{self.id}-o")
