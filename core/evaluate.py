"""Measuring prompts: ``evaluate_prompt`` (one prompt: every metric with n and a 95% CI, usage,
the worst answers) and ``compare_prompts`` (an A/B test on the same examples: the difference
with its CI, a paired permutation test, McNemar or Wilcoxon, Holm-corrected when one prompt is
compared with several, and a verdict in words).

Both go through the same call stack as tuning (cache, limits, retries, budget), so re-running an
evaluation costs nothing and an A/B test reuses every answer it already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .budget import Budget
from .candidate import Candidate
from .config import Secrets, Settings
from .errors import PromptTunerError, first_user_error
from .evaluator import Evaluation, Evaluator
from .metrics import JudgeConsistency, Scorer, judges_of, make_scorer
from .metrics.pairwise import PairwiseJudge, PairwiseResult
from .metrics.stats import Estimate, PairedComparison, compare_paired, estimate, holm, sample_size_paired
from .models import ModelHub, price_fn
from .models.base import Completion, Message
from .plan import answer_tokens
from .processors import target_pipeline
from .safety import ModerationModel, SafetyScreen
from .task import Example, Task
from .templates import TemplateLibrary


@dataclass(frozen=True)
class ExampleOutcome:
    index: int
    inputs: dict[str, Any]
    expected: str | None
    answer: str
    score: float
    reason: str
    outcome: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "inputs": self.inputs, "expected": self.expected,
                "answer": self.answer, "score": self.score, "reason": self.reason,
                "outcome": self.outcome}


def usage_of(completions: Sequence[Completion], settings: Settings) -> dict[str, Any]:
    """Calls, cache hits, tokens, cost and latency percentiles of the answers behind a score."""
    sent = [c for c in completions if not c.cached]
    lat = sorted(c.latency_s for c in sent)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 4) if lat else None

    cost = 0.0
    for c in sent:
        priced = price_fn(settings.prices.get(c.model))
        if priced is not None:
            cost += priced(c)
    return {
        "answers": len(completions), "calls": len(sent), "cache_hits": len(completions) - len(sent),
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
        "cost": round(cost, 6), "latency_p50_s": pct(0.5), "latency_p95_s": pct(0.95),
        "truncated_answers": sum(1 for c in completions if c.finish_reason == "length"),
    }


@dataclass
class EvalReport:
    task_name: str
    split: str
    target: str
    prompt: tuple[Message, ...]
    n: int
    repeats: int
    aggregate: Estimate
    metrics: dict[str, Estimate]
    scores: list[float]                      # per example (mean over repeats), in example order
    part_scores: dict[str, list[float]]
    outcomes: dict[str, int]                 # e.g. ok / wrong_label / no_label
    worst: list[ExampleOutcome]
    usage: dict[str, Any]                    # the target's answers
    judge_usage: dict[str, Any] | None = None
    judge: list[JudgeConsistency] = field(default_factory=list)
    repeat_means: list[float] = field(default_factory=list)  # one mean per repeat (k > 1)
    partial: bool = False
    duration_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    safety: dict[str, Any] | None = None     # core.safety's counts, when it screens anything

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task_name, "split": self.split, "target": self.target,
            "prompt": [{"role": m.role, "content": m.content} for m in self.prompt],
            "n": self.n, "repeats": self.repeats, "aggregate": _est(self.aggregate),
            "metrics": {k: _est(v) for k, v in self.metrics.items()},
            "outcomes": self.outcomes, "worst": [w.to_json() for w in self.worst],
            "usage": self.usage, "judge_usage": self.judge_usage,
            "judge_consistency": [j.to_json() for j in self.judge],
            "repeat_means": self.repeat_means, "partial": self.partial,
            "duration_s": round(self.duration_s, 3), "warnings": self.warnings,
            "safety": self.safety,
        }


def _est(e: Estimate) -> dict[str, Any]:
    return e.to_json()


@dataclass
class Matchup:
    """Prompt B (a challenger) against prompt A (the baseline)."""

    name_b: str
    overall: PairedComparison
    metrics: dict[str, PairedComparison]
    p_adjusted: float                        # Holm over the challengers; = p with one
    verdict: str
    pairwise: PairwiseResult | None = None   # --pairwise: the judge picks, in both orders

    def to_json(self) -> dict[str, Any]:
        return {"b": self.name_b, "overall": self.overall.to_json(),
                "metrics": {k: v.to_json() for k, v in self.metrics.items()},
                "p_adjusted": self.p_adjusted, "verdict": self.verdict,
                "pairwise": self.pairwise.to_json() if self.pairwise else None}


@dataclass
class ComparisonReport:
    names: list[str]
    reports: list[EvalReport]
    matchups: list[Matchup]
    alpha: float
    n: int

    def to_json(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "n": self.n,
                "prompts": [{"name": name, **r.to_json()}
                            for name, r in zip(self.names, self.reports, strict=True)],
                "comparisons": [m.to_json() for m in self.matchups]}


class _Session:
    """What one eval/compare invocation shares: the hub (cache, budget, clients) and the scorer."""

    def __init__(self, task: Task, settings: Settings, secrets: Secrets | None,
                 use_cache: bool) -> None:
        self.task = task
        self.settings = settings
        self.budget = Budget(settings.budget)
        self.hub = ModelHub(settings, secrets or Secrets(), budget=self.budget, use_cache=use_cache)
        self.templates = TemplateLibrary()
        judge = self.hub.get(settings.models.judge) if task.uses_judge() else None
        self.scorer: Scorer = make_scorer(task, judge, self.templates, seed=settings.tune.seed)
        t = settings.tune
        moderation = settings.safety.moderation
        self.safety = SafetyScreen(settings.safety, ModerationModel(
            self.hub.get(moderation), self.templates, t.seed) if moderation else None)
        self.evaluator = Evaluator(self.hub.get(settings.models.target), self.scorer,
                                   concurrency=t.concurrency,
                                   max_tokens=t.answer_max_tokens or answer_tokens(task),
                                   seed=t.seed, sample_temperature=t.sample_temperature,
                                   pipeline=target_pipeline(settings, task), safety=self.safety)

    async def run(self, messages: tuple[Message, ...], examples: Sequence[Example],
                  repeats: int) -> Evaluation:
        self.safety.screen_prompt(messages, self.task.source or self.task.name)
        return await self.evaluator.evaluate(Candidate(messages), examples, repeats=repeats)

    def report(self, ev: Evaluation, examples: Sequence[Example], split: str, repeats: int,
               started: float, worst: int) -> EvalReport:
        seed = self.settings.tune.seed
        names = self.scorer.names
        parts = [p for p in ev.part_names() if p not in names]
        part_scores = {name: ev.part_scores(name) for name in [*names, *parts]}
        ordered = sorted(ev.results)
        failing = sorted((i for i in ordered if ev.example_score(i) < 1.0),
                         key=lambda i: (ev.example_score(i), i))[:worst]
        worst_list = [ExampleOutcome(i, examples[i].inputs, examples[i].expected,
                                     ev.results[i].answer, ev.example_score(i),
                                     ev.results[i].reason, ev.results[i].outcome)
                      for i in failing]
        repeat_means: list[float] = []
        if repeats > 1:
            for r in range(repeats):
                got = [x.score for i in ordered for x in ev.all_results(i) if x.repeat == r]
                repeat_means.append(sum(got) / len(got) if got else 0.0)
        judges = judges_of(self.scorer)
        consistency = [j.consistency() for j in judges]
        warnings = [f"the judge is inconsistent: {c.describe()}" for c in consistency
                    if not c.consistent]
        judge_usage = None
        if judges:
            judge_usage = self.hub.stats().get(self.settings.models.judge)
        return EvalReport(
            task_name=self.task.name, split=split, target=self.settings.models.target,
            prompt=ev.candidate.messages, n=len(ordered), repeats=repeats,
            aggregate=estimate(ev.scores(), seed=seed),
            metrics={name: estimate(values, seed=seed) for name, values in part_scores.items()},
            scores=ev.scores(), part_scores=part_scores,
            outcomes=dict(Counter(ev.results[i].outcome for i in ordered)),
            worst=worst_list, usage=usage_of(ev.completions(), self.settings),
            judge_usage=judge_usage, judge=consistency,
            repeat_means=repeat_means, partial=ev.partial,
            duration_s=time.monotonic() - started, warnings=warnings,
            safety=self.safety.summary() if self.safety.active else None,
        )


@contextlib.contextmanager
def _one_error() -> Iterator[None]:
    """Answers are scored in task groups, which wrap what fails; a caller (the CLI, Slack, the
    editor) needs the first real error, a ``PromptTunerError`` with its hint when there is one."""
    try:
        yield
    except BaseExceptionGroup as group:
        raise first_user_error(group) from group


def _examples(task: Task, split: str | None, limit: int | None) -> tuple[str, list[Example]]:
    name = split or "all"
    examples = list(task.split(split))
    if not examples:
        raise PromptTunerError(f"{task.source or task.name}: the {name} split has no examples",
                               "add examples or choose another --split")
    if limit is not None:
        examples = examples[:limit]
    return name, examples


async def evaluate_prompt(task: Task, settings: Settings, *, secrets: Secrets | None = None,
                          prompt: tuple[Message, ...] | None = None, split: str | None = None,
                          limit: int | None = None, repeat: int = 1, use_cache: bool = True,
                          worst: int = 5) -> EvalReport:
    """Score one prompt (default: the task's) on a split; every metric with n and a 95% CI.

    Examples:
        The bundled task's prompt on its first four examples, answered by the embedded model:

        >>> import asyncio
        >>> from pathlib import Path
        >>> from core import evaluate_prompt, load_settings, load_task
        >>> task = load_task(Path("examples/sentiment.tune.yaml"))
        >>> report = asyncio.run(evaluate_prompt(task, load_settings().settings, limit=4))
        >>> report.n, report.split, report.target, report.usage["answers"], sum(report.outcomes.values())
        (4, 'all', 'embedded', 4, 4)
        >>> score = report.metrics["label"]
        >>> score.n, 0.0 <= score.low <= score.mean <= score.high <= 1.0
        (4, True)
    """
    started = time.monotonic()
    split_name, examples = _examples(task, split, limit)
    session = _Session(task, settings, secrets, use_cache)
    try:
        with _one_error():
            ev = await session.run(prompt or task.messages, examples, max(1, repeat))
        if not ev.results:
            raise PromptTunerError("the budget ran out before any example was scored",
                                   "raise --max-calls")
        return session.report(ev, examples, split_name, max(1, repeat), started, worst)
    finally:
        await session.hub.aclose()


async def compare_prompts(task: Task, settings: Settings,
                          prompts: Sequence[tuple[str, tuple[Message, ...]]], *,
                          secrets: Secrets | None = None, split: str | None = None,
                          limit: int | None = None, use_cache: bool = True,
                          alpha: float = 0.05, worst: int = 3,
                          pairwise: bool = False) -> ComparisonReport:
    """A/B test: prompts[0] is A; every other prompt is compared with it on the same examples.
    With several challengers the p-values are Holm-corrected. ``pairwise``: the judge model also
    picks the better answer of each pair, shown in both orders (a position-swap check).

    Examples:
        The bundled task's prompt (A) against one that says what to answer (B), on the same four
        examples, answered by the embedded model:

        >>> import asyncio
        >>> from pathlib import Path
        >>> from core import Message, compare_prompts, load_settings, load_task
        >>> task = load_task(Path("examples/sentiment.tune.yaml"))
        >>> terse = (Message("user", "Positive or negative? One word.\\n\\n{{ review }}"),)
        >>> report = asyncio.run(compare_prompts(task, load_settings().settings,
        ...                                      [("original", task.messages), ("terse", terse)],
        ...                                      limit=4))
        >>> report.names, report.n, [r.n for r in report.reports]
        (['original', 'terse'], 4, [4, 4])
        >>> matchup = report.matchups[0]
        >>> c = matchup.overall  # terse - original, paired
        >>> matchup.name_b, c.n, c.b_wins + c.a_wins + c.ties, -1 <= c.diff_low <= c.diff <= c.diff_high <= 1
        ('terse', 4, 4, True)
    """
    if len(prompts) < 2:
        raise PromptTunerError("compare needs at least two prompts", "give PROMPT_A PROMPT_B")
    started = time.monotonic()
    split_name, examples = _examples(task, split, limit)
    session = _Session(task, settings, secrets, use_cache)
    seed = settings.tune.seed
    try:
        with _one_error():
            async with asyncio.TaskGroup() as group:  # one failure stops the other prompts' calls
                runs = [group.create_task(session.run(msgs, examples, 1)) for _, msgs in prompts]
        evs = [run.result() for run in runs]
        shared = sorted(set.intersection(*(set(ev.results) for ev in evs)))
        if not shared:
            raise PromptTunerError("the budget ran out before any example was scored by both "
                                   "prompts", "raise --max-calls")
        reports = [session.report(ev, examples, split_name, 1, started, worst) for ev in evs]
        matchups = _matchups(session, [name for name, _ in prompts], evs, shared, alpha, seed)
        if pairwise:
            judge = PairwiseJudge(session.hub.get(settings.models.judge), session.templates, task,
                                  seed=seed)
            picked = [examples[i] for i in shared]
            base = evs[0]
            for m, ev in zip(matchups, evs[1:], strict=True):
                with _one_error():
                    m.pairwise = await judge.compare(picked, [_scored(base, i) for i in shared],
                                                     [_scored(ev, i) for i in shared])
        return ComparisonReport([n for n, _ in prompts], reports, matchups, alpha, len(shared))
    finally:
        await session.hub.aclose()


def _scored(ev: Evaluation, index: int) -> str:
    """The answer as the metrics read it (after the processors)."""
    r = ev.results[index]
    return r.answer if r.scored is None else r.scored


def _matchups(session: _Session, names: list[str], evs: list[Evaluation], shared: list[int],
              alpha: float, seed: int) -> list[Matchup]:
    """Every challenger against the baseline (``evs[0]``) on the shared examples, Holm-corrected."""
    base = evs[0]
    raw: list[tuple[str, PairedComparison, dict[str, PairedComparison]]] = []
    a = [base.example_score(i) for i in shared]
    for name, ev in zip(names[1:], evs[1:], strict=True):
        b = [ev.example_score(i) for i in shared]
        per_metric = {}
        if len(session.scorer.names) > 1:
            for metric in session.scorer.names:
                per_metric[metric] = compare_paired(
                    [base.results[i].parts.get(metric, 0.0) for i in shared],
                    [ev.results[i].parts.get(metric, 0.0) for i in shared],
                    alpha=alpha, seed=seed)
        overall = compare_paired(a, b, alpha=alpha, seed=seed)
        if overall.needed_n is None and len(names) > 2:
            # significant before Holm, maybe not after: keep the sample-size hint at hand
            strict = alpha / (len(names) - 1)
            overall = replace(overall, needed_n=sample_size_paired(a, b, alpha=strict))
        raw.append((name, overall, per_metric))
    adjusted = holm([c.p_value for _, c, _ in raw])
    return [Matchup(name, c, per, p_adj, _verdict(c, p_adj, alpha))
            for (name, c, per), p_adj in zip(raw, adjusted, strict=True)]


def _verdict(c: PairedComparison, p_adjusted: float, alpha: float) -> str:
    """The verdict in words, after the Holm correction (the raw test with one challenger)."""
    if p_adjusted < alpha and c.diff != 0:
        return "B is better" if c.diff > 0 else "A is better"
    needed = f" (would need about {c.needed_n} examples)" if c.needed_n else ""
    return f"no significant difference{needed}"
