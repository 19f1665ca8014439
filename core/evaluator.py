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
from .models.base import Completion, Request
from .models.stack import ModelClient
from .processors import Pipeline
from .render import DemoPool, extract_answer, render
from .safety import SafetyScreen, Verdict
from .task import Example


@dataclass(frozen=True)
class ExampleResult:
    index: int
    answer: str
    score: float
    reason: str
    parts: dict[str, float] = field(default_factory=dict)   # per metric (and judge dimension)
    outcome: str = "ok"
    completion: Completion | None = None
    repeat: int = 0
    scored: str | None = None   # what the metrics read, when processors changed the reply


@dataclass
class Evaluation:
    candidate: Candidate
    results: dict[int, ExampleResult] = field(default_factory=dict)
    planned: int = 0
    partial: bool = False
    repeats: dict[int, list[ExampleResult]] = field(default_factory=dict)  # repeats 1..k-1

    def all_results(self, index: int) -> list[ExampleResult]:
        return [self.results[index], *self.repeats.get(index, [])] if index in self.results else []

    def scores(self) -> list[float]:
        """One score per example: the mean over its repeats when there are several."""
        return [self.example_score(i) for i in sorted(self.results)]

    def example_score(self, index: int, part: str | None = None) -> float:
        got = [r.score if part is None else r.parts.get(part, 0.0) for r in self.all_results(index)]
        return sum(got) / len(got)

    def part_scores(self, part: str) -> list[float]:
        return [self.example_score(i, part) for i in sorted(self.results)]

    def part_names(self) -> list[str]:
        names: dict[str, None] = {}
        for r in self.results.values():
            names.update(dict.fromkeys(r.parts))
        return list(names)

    def completions(self) -> list[Completion]:
        out = [r.completion for r in self.results.values() if r.completion is not None]
        out += [r.completion for rs in self.repeats.values() for r in rs if r.completion is not None]
        return out

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
                 on_result: ResultHook | None = None, pool: DemoPool | None = None,
                 reasoning_tokens: int = 256, pipeline: Pipeline | None = None,
                 safety: SafetyScreen | None = None) -> None:
        self.target = target
        self.metric = metric
        self.max_tokens = max_tokens
        self.seed = seed
        self.sample_temperature = sample_temperature
        self.on_result = on_result
        self.pool = pool
        self.reasoning_tokens = reasoning_tokens
        self.pipeline = pipeline  # the processors: on the messages, then on the reply
        self.safety = safety
        self._slots = asyncio.Semaphore(concurrency)

    async def request(self, candidate: Candidate, example: Example, repeat: int = 0,
                      index: int | None = None) -> Request:
        """Greedy decoding for the answer; a repeat (``--repeat``) or a quick-form sample is
        drawn at the sampling temperature with its own seed. The processors' ``before_request``
        runs here, before the request (and so its cache key) exists."""
        messages = await render(candidate, example, self.pool)
        if self.pipeline:
            messages = self.pipeline.before(messages, index)
        max_tokens = self.max_tokens
        if candidate.answer_prefix:  # room for the reasoning before the answer line
            max_tokens = max(max_tokens, self.reasoning_tokens)
        sample = example.meta.get("sample")
        if isinstance(sample, int):  # no examples: score several sampled answers instead
            repeat += sample
        elif repeat == 0:
            return Request(messages=messages, max_tokens=max_tokens, temperature=0.0,
                           seed=self.seed)
        return Request(messages=messages, max_tokens=max_tokens,
                       temperature=self.sample_temperature, seed=self.seed + repeat)

    async def _one(self, candidate: Candidate, index: int, example: Example,
                   evaluation: Evaluation, repeat: int = 0) -> None:
        flagged = self.safety.screen_input(example.inputs, index) if self.safety else []
        refused = self.safety.refuses(flagged) if self.safety else None
        if refused is not None:  # never sent: scored 0, nothing paid
            self._keep(candidate, example, evaluation, self._forced(index, "", refused, repeat),
                       "")
            return
        async with self._slots:
            request = await self.request(candidate, example, repeat, index)
            try:
                completion = await self.target.complete(request)
                text = self.pipeline.after(completion.text, index) if self.pipeline \
                    else completion.text
                answer = extract_answer(text, candidate.answer_prefix)
                score = await self.metric.score(answer, example)
                verdict = await self.safety.judge_answer(completion.text, flagged, index) \
                    if self.safety else None
            except BudgetExhausted:  # the others finish what they already paid for
                evaluation.partial = True
                return
        scored = text if text != completion.text else None
        if verdict is not None and verdict.blocked:
            result = self._forced(index, completion.text, verdict, repeat, score, scored,
                                  completion)
        else:
            parts = getattr(score, "parts", None)
            result = ExampleResult(index, completion.text, score.value, score.reason,
                                   parts=dict(parts) if isinstance(parts, dict) else {},
                                   outcome=getattr(score, "outcome", "") or "ok",
                                   completion=completion, repeat=repeat, scored=scored)
        self._keep(candidate, example, evaluation, result, self.target.key(request))

    @staticmethod
    def _forced(index: int, answer: str, verdict: Verdict, repeat: int, score: object = None,
                scored: str | None = None, completion: Completion | None = None
                ) -> ExampleResult:
        """A result the safety screen scores 0: every metric's part too, so no part of it
        counts as a success."""
        parts = getattr(score, "parts", None)
        zero = dict.fromkeys(parts, 0.0) if isinstance(parts, dict) else {}
        return ExampleResult(index, answer, 0.0, verdict.reason, parts=zero,
                             outcome=verdict.outcome, completion=completion, repeat=repeat,
                             scored=scored)

    def _keep(self, candidate: Candidate, example: Example, evaluation: Evaluation,
              result: ExampleResult, key: str) -> None:
        if result.repeat:
            evaluation.repeats.setdefault(result.index, []).append(result)
            return
        evaluation.results[result.index] = result
        if self.on_result is not None:
            self.on_result(candidate, example, result, key)

    async def evaluate(self, candidate: Candidate, examples: Sequence[Example],
                       evaluation: Evaluation | None = None, repeats: int = 1,
                       upto: int | None = None) -> Evaluation:
        """Score ``candidate`` on ``examples`` (each ``repeats`` times), filling ``evaluation``
        (new if not given) as answers arrive, so a caller can watch it grow. ``upto``: only the
        first ``upto`` examples (racing grows this); examples already scored are skipped."""
        evaluation = evaluation or Evaluation(candidate, planned=len(examples) * repeats)
        stop = len(examples) if upto is None else min(upto, len(examples))
        async with asyncio.TaskGroup() as group:
            for index, example in enumerate(examples[:stop]):
                if index in evaluation.results:
                    continue
                for repeat in range(repeats):
                    group.create_task(self._one(candidate, index, example, evaluation, repeat))
        return evaluation
