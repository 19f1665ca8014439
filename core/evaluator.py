"""Run one candidate on examples with the target model and score every answer.

Examples run concurrently, bounded by a semaphore shared across the run (and, below it, by each
model's in-flight limit). Each scored example is written to the store as it arrives. When the
budget runs out mid-way the evaluation ends ``partial``: every answer already paid for is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .candidate import Candidate
from .errors import BudgetExhausted
from .metrics.base import Metric
from .metrics.stats import Estimate, estimate
from .models.base import Message, Request
from .models.stack import ModelClient
from .task import Example
from .templates import render_prompt


@dataclass(frozen=True)
class ExampleResult:
    index: int
    answer: str
    score: float
    reason: str


@dataclass
class Evaluation:
    candidate: Candidate
    results: dict[int, ExampleResult] = field(default_factory=dict)
    planned: int = 0
    partial: bool = False

    def scores(self) -> list[float]:
        return [self.results[i].score for i in sorted(self.results)]

    def mean(self) -> float:
        scores = self.scores()
        return sum(scores) / len(scores) if scores else 0.0

    def estimate(self, seed: int = 0) -> Estimate:
        return estimate(self.scores(), seed=seed)

    def failures(self) -> list[ExampleResult]:
        return sorted((r for r in self.results.values() if r.score < 1.0),
                      key=lambda r: (r.score, r.index))


ResultHook = Callable[[Candidate, Example, ExampleResult, str], None]


class Evaluator:
    def __init__(self, target: ModelClient, metric: Metric, *, concurrency: int,
                 max_tokens: int, seed: int, sample_temperature: float = 0.7,
                 on_result: ResultHook | None = None) -> None:
        self.target = target
        self.metric = metric
        self.max_tokens = max_tokens
        self.seed = seed
        self.sample_temperature = sample_temperature
        self.on_result = on_result
        self._slots = asyncio.Semaphore(concurrency)

    def request(self, candidate: Candidate, example: Example) -> Request:
        messages = tuple(Message(m.role, render_prompt(m.content, example.inputs))
                         for m in candidate.messages)
        sample = example.meta.get("sample")
        if isinstance(sample, int):  # no examples: score several sampled answers instead
            return Request(messages=messages, max_tokens=self.max_tokens,
                           temperature=self.sample_temperature, seed=self.seed + sample)
        return Request(messages=messages, max_tokens=self.max_tokens, temperature=0.0,
                       seed=self.seed)

    async def _one(self, candidate: Candidate, index: int, example: Example,
                   evaluation: Evaluation) -> None:
        async with self._slots:
            request = self.request(candidate, example)
            try:
                completion = await self.target.complete(request)
                score = await self.metric.score(completion.text, example)
            except BudgetExhausted:  # the others finish what they already paid for
                evaluation.partial = True
                return
        result = ExampleResult(index, completion.text, score.value, score.reason)
        evaluation.results[index] = result
        if self.on_result is not None:
            self.on_result(candidate, example, result, self.target.key(request))

    async def evaluate(self, candidate: Candidate, examples: Sequence[Example],
                       evaluation: Evaluation | None = None) -> Evaluation:
        """Score ``candidate`` on ``examples``, filling ``evaluation`` (new if not given) as
        answers arrive, so a caller can watch it grow."""
        evaluation = evaluation or Evaluation(candidate, planned=len(examples))
        async with asyncio.TaskGroup() as group:
            for index, example in enumerate(examples):
                group.create_task(self._one(candidate, index, example, evaluation))
        return evaluation
