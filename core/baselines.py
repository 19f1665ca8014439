"""What a label task's winner must beat to mean anything: guessing (chance, 1 in k answers) and
always answering the most frequent TRAIN label (the majority predictor), computed from a stored
run without a single model call.

The majority predictor's answer is scored with the task's own metrics on the examples the winner
was judged on (held-out when there are any), so "always answering `positive`" counts exactly as
the winner's answers do, and the two are compared example by example (a paired permutation test).
Tasks whose metrics are not all label-like (label, exact, contains) or whose answers are open (no
train answer space) have no such baseline.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from .answers import LABEL_LIKE, answer_space
from .metrics.base import Score
from .metrics.stats import Estimate, PairedComparison, compare_paired, estimate
from .splits import auto_splits
from .task import Example, Task


@dataclass(frozen=True)
class Baselines:
    answers: tuple[str, ...]            # the answer space (k answers)
    majority_label: str                 # the most frequent train answer
    majority_train_share: float         # its share of the train split
    split: str                          # test (held-out) or dev: where the scores below are from
    majority: Estimate                  # always answering majority_label, scored by the metrics
    winner_id: str | None
    winner: Estimate | None
    comparison: PairedComparison | None  # A: the majority predictor, B: the winner

    @property
    def chance(self) -> float:
        return 1.0 / len(self.answers) if self.answers else 0.0

    @property
    def beats_majority(self) -> bool | None:
        """Whether the winner is significantly better than the majority predictor (None: not
        compared)."""
        if self.comparison is None:
            return None
        return bool(self.comparison.significant and self.comparison.diff > 0)

    def verdict(self) -> str:
        """One plain sentence on the winner against always answering the majority label."""
        always = f"always answering `{self.majority_label}` ({self.majority.mean:.0%})"
        where = "held-out" if self.split == "test" else "dev"
        if self.comparison is None or self.winner is None:
            return f"Baseline: {always} on {where} examples; chance is {self.chance:.0%}."
        c = self.comparison
        name = f"`{self.winner_id}` ({self.winner.mean:.0%})"
        if self.beats_majority:
            return (f"{name} is significantly better than {always}: {c.diff * 100:+.1f} pts, "
                    f"p={c.p_value:.3g} on {c.n} {where} examples; chance is {self.chance:.0%}.")
        return (f"{name} is not significantly better than {always} (p={c.p_value:.3g} on {c.n} "
                f"{where} examples); chance is {self.chance:.0%}.")

    def to_json(self) -> dict[str, Any]:
        return {"answers": list(self.answers), "chance": self.chance,
                "majority_label": self.majority_label,
                "majority_train_share": self.majority_train_share, "split": self.split,
                "majority": self.majority.to_json(), "winner_id": self.winner_id,
                "winner": self.winner.to_json() if self.winner else None,
                "comparison": self.comparison.to_json() if self.comparison else None,
                "beats_majority": self.beats_majority, "verdict": self.verdict()}


def train_examples(task: Task, settings: dict[str, Any]) -> tuple[Example, ...]:
    """The train split a run drew demonstrations from: the task's own, else the seeded 40/30/30
    split the engine makes for a task without splits (``tune.auto_split_min`` examples or more)."""
    if "train" in task.splits:
        return task.split("train")
    tune = settings.get("tune") or {}
    if task.splits or len(task.examples) < int(tune.get("auto_split_min", 30)):
        return ()
    names = auto_splits([e.expected for e in task.examples],
                        stratify=task.resolved_metric() == "label", seed=int(tune.get("seed", 0)))
    return tuple(task.examples[i] for i in names.get("train", ()))


def _drive(coro: Coroutine[Any, Any, Score]) -> Score | None:
    """The result of a coroutine that never waits (an offline metric), run without an event loop
    (reports are also written from inside one). None if it would wait for something."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    return None


def constant_scores(task: Task, answer: str, examples: Sequence[Example]) -> list[float] | None:
    """Each example's score for always giving ``answer``, by the task's weighted metrics; None if
    a metric needs a model or the metrics cannot be built."""
    from .errors import PromptTunerError
    from .metrics.registry import make_metrics
    from .templates import TemplateLibrary

    try:
        metrics = make_metrics(task, None, TemplateLibrary())
    except (PromptTunerError, ValueError):
        return None
    total = sum(spec.weight for spec, _ in metrics)
    out = []
    for example in examples:
        value = 0.0
        for spec, metric in metrics:
            score = _drive(metric.score(answer, example))
            if score is None:
                return None
            value += spec.weight * score.value
        out.append(min(1.0, max(0.0, value / total)))
    return out


def compute_baselines(task: Task, settings: dict[str, Any], split: str,
                      rows: Sequence[dict[str, Any]], winner_id: str | None,
                      winner_rows: Sequence[dict[str, Any]], seed: int = 0) -> Baselines | None:
    """The baselines of a stored run. ``rows``: stored evaluations (one per example) that give the
    split's examples; ``winner_rows``: the winner's on the same split (may be empty)."""
    if not task.examples or not {s.type for s in task.metric_specs()} <= LABEL_LIKE:
        return None
    train = train_examples(task, settings)
    answers = answer_space(task, train).labels
    counts = Counter(e.expected for e in train if e.expected is not None)
    if not answers or not counts or not rows:
        return None
    top = max(counts.values())
    label = sorted(a for a, n in counts.items() if n == top)[0]
    by_index = {int(r["example_index"]): r for r in rows}
    examples = [Example(inputs=json.loads(r.get("inputs_json") or "{}"), expected=r.get("expected"))
                for _, r in sorted(by_index.items())]
    scores = constant_scores(task, label, examples)
    if scores is None:
        return None
    majority = estimate(scores, seed=seed)
    won = {int(r["example_index"]): float(r.get("score") or 0.0) for r in winner_rows}
    shared = [i for i in sorted(by_index) if i in won]
    comparison = winner = None
    if shared:
        pos = {i: k for k, i in enumerate(sorted(by_index))}
        a = [scores[pos[i]] for i in shared]
        b = [won[i] for i in shared]
        comparison = compare_paired(a, b, seed=seed)
        winner = estimate(b, seed=seed)
    return Baselines(answers=answers, majority_label=label,
                     majority_train_share=top / sum(counts.values()), split=split,
                     majority=majority, winner_id=winner_id if shared else None, winner=winner,
                     comparison=comparison)
