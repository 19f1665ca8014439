"""What a run will spend, decided before it spends anything."""

from __future__ import annotations

from .config import Settings
from .task import Task


def plan_calls(n_examples: int, settings: Settings, judged: bool,
               n_test: int = 0) -> dict[str, int]:
    """The search's expected spend on ``n_examples`` dev examples (each candidate raced: scored
    on the first rung, half of them further), plus the held-out check on ``n_test`` examples
    (the original and the winner), and the least that can compare two candidates at all."""
    t = settings.tune
    per_example = 2 if judged else 1
    rung = min([r for r in t.rungs if r < n_examples] or [n_examples])
    per_candidate = (rung + n_examples) // 2 if rung < n_examples else n_examples
    proposals = t.variations * t.rounds
    confirm = 2 * n_test * per_example
    return {
        "evaluations": 1 + proposals,
        "calls": (n_examples + proposals * per_candidate) * per_example + proposals + confirm,
        "minimum": 2 * n_examples * per_example + 1 + confirm,
        "confirmation": confirm,
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
