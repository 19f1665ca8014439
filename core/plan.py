"""What a run will spend, decided before it spends anything."""

from __future__ import annotations

from .config import Settings
from .task import Task


def plan_calls(n_examples: int, settings: Settings, judged: bool) -> dict[str, int]:
    t = settings.tune
    evals = 1 + t.variations + t.refine_top
    per_example = 2 if judged else 1
    return {
        "evaluations": evals,
        "calls": evals * n_examples * per_example + t.variations + t.refine_top,
        "minimum": 2 * n_examples * per_example + 1,
    }


def answer_tokens(task: Task) -> int:
    """Room for the target's answer: a label needs a few tokens, an essay a few hundred. Small
    models that miss the format ramble until the limit, so a tight limit saves most of the time
    of scoring a bad prompt."""
    kinds = {spec.type for spec in task.metric_specs()}
    if kinds & {"judge", "similarity", "custom"}:
        return 256
    if kinds & {"numeric", "regex"}:  # room for a line of working before the final answer
        return 160
    longest = max((len(e.expected or "") for e in task.examples), default=0)
    return 24 if kinds == {"label"} else min(512, max(24, longest // 2 + 16))
