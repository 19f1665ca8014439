"""A task's score: several metrics combined into a named vector with a weighted aggregate.

The ``Scorer`` is itself a ``Metric`` (its score is the aggregate), so the evaluator and the
engine need not care whether a task has one metric or five; the per-metric values ride along in
``VectorScore.parts`` (a rubric judge adds one entry per dimension, ``judge.clarity``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..task import Example
from .base import Metric, Score


@dataclass(frozen=True)
class VectorScore(Score):
    parts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Weighted:
    name: str
    weight: float
    metric: Metric


class Scorer:
    """Scores one answer with every metric of the task (concurrently: a judge call need not wait
    for the embedding model) and combines them."""

    name = "score"

    def __init__(self, metrics: list[Weighted]) -> None:
        if not metrics:
            raise ValueError("a scorer needs at least one metric")
        self.metrics = metrics
        self.total_weight = sum(m.weight for m in metrics)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.metrics]

    @property
    def primary(self) -> Metric:
        return self.metrics[0].metric

    async def score(self, answer: str, example: Example) -> VectorScore:
        scores = await asyncio.gather(*(m.metric.score(answer, example) for m in self.metrics))
        parts: dict[str, float] = {}
        reasons: list[str] = []
        outcome = ""
        aggregate = 0.0
        for m, s in zip(self.metrics, scores, strict=True):
            parts[m.name] = s.value
            aggregate += m.weight * s.value
            sub = getattr(s, "parts", None)
            if isinstance(sub, dict):
                for dim, value in sub.items():
                    parts[f"{m.name}.{dim}"] = float(value)
            if s.reason:
                reasons.append(s.reason if len(self.metrics) == 1 else f"{m.name}: {s.reason}")
            tag = getattr(s, "outcome", "")
            if not outcome and tag and tag != "ok":
                outcome = tag if len(self.metrics) == 1 else f"{m.name}:{tag}"
        value = min(1.0, max(0.0, aggregate / self.total_weight))
        return VectorScore(value, "; ".join(reasons)[:500], outcome or "ok", parts=parts)
