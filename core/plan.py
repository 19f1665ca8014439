"""What a run will spend, decided before it spends anything."""

from __future__ import annotations

from .config import Settings
from .errors import ConfigError
from .racing import expected_examples
from .task import Task

# The fewest dev examples a budget-fitted search is scored on: the old fixed sample. A budget
# that cannot afford even these gets the "below the plan" warning (or the refusal), as before.
FITTED_DEV_FLOOR = 24


def plan_calls(n_examples: int, settings: Settings, judged: bool,
               n_test: int = 0) -> dict[str, int]:
    """The search's expected spend on ``n_examples`` dev examples (each candidate raced on
    growing rungs, half the field going on at each), plus the held-out check on ``n_test``
    examples (the original and the winner), and the least that can compare two candidates.

    Examples:
        >>> from core import load_settings, plan_calls
        >>> settings = load_settings().settings  # 4 rounds of 4 proposals, raced on 8, then 16
        >>> plan_calls(12, settings, judged=False, n_test=12)
        {'evaluations': 17, 'calls': 212, 'minimum': 49, 'confirmation': 24}
        >>> plan_calls(12, settings, judged=True)["calls"]  # the judge doubles what is scored
        360
    """
    t = settings.tune
    per_example = 2 if judged else 1
    per_candidate = round(expected_examples(t.rungs, n_examples))
    proposals = t.variations * t.rounds
    confirm = 2 * n_test * per_example
    return {
        "evaluations": 1 + proposals,
        "calls": (n_examples + proposals * per_candidate) * per_example + proposals + confirm,
        "minimum": 2 * n_examples * per_example + 1 + confirm,
        "confirmation": confirm,
    }


def fit_dev(n_dev: int, settings: Settings, judged: bool, n_test: int = 0) -> int:
    """How many dev examples the search is scored on: all of them unless ``tune.max_examples``
    caps it or ``budget.max_calls`` cannot afford the plan on all of them; then the most whose
    plan (and whose least comparison of two candidates) fits the budget, but never fewer than
    ``FITTED_DEV_FLOOR`` (or all, if dev is smaller).

    Examples:
        >>> from core import fit_dev, load_settings
        >>> fit_dev(100, load_settings().settings, judged=False)  # no limit: all of dev
        100
        >>> fit_dev(100, load_settings(flags={"budget.max_calls": 400}).settings, judged=False)
        64
        >>> fit_dev(100, load_settings(flags={"budget.max_calls": 100}).settings, judged=False)
        24
        >>> fit_dev(100, load_settings(flags={"tune.max_examples": 12}).settings, judged=False)
        12
    """
    cap = settings.tune.max_examples
    n = n_dev if cap is None else min(n_dev, cap)
    limit = settings.budget.max_calls
    if cap is not None or limit is None:
        return n
    floor = min(n, FITTED_DEV_FLOOR)
    while n > floor and _need(n, settings, judged, n_test) > limit:
        n -= 1
    return n


def _need(n: int, settings: Settings, judged: bool, n_test: int) -> int:
    plan = plan_calls(n, settings, judged, n_test)
    return max(plan["calls"], plan["minimum"])


def check_budget(n_dev: int, settings: Settings, judged: bool, n_test: int) -> str | None:
    """Refuse a call budget that cannot compare even two candidates; return the warning to give
    when it is below the plan (the run will then stop early), else None."""
    plan = plan_calls(n_dev, settings, judged, n_test)
    limit = settings.budget.max_calls
    if limit is None:
        return None
    held = f" + {plan['confirmation']} for the held-out check" if plan["confirmation"] else ""
    if limit < plan["minimum"]:
        raise ConfigError(
            f"--max-calls {limit} cannot compare even two candidates: that needs "
            f"{plan['minimum']} calls ({n_dev} examples x 2 candidates"
            f"{' x 2 with the judge' if judged else ''} + 1 proposal{held})",
            f"raise --max-calls to at least {plan['minimum']} or use fewer examples")
    if limit < plan["calls"]:
        return (f"budget of {limit} calls is below the plan's {plan['calls']} "
                f"({plan['evaluations']} candidates on {n_dev} examples{held}); "
                "the run will stop early and keep everything it measured")
    return None


def answer_tokens(task: Task) -> int:
    """Room for the target's answer: a label needs a few tokens, an essay a few hundred. Small
    models that miss the format ramble until the limit, so a tight limit saves most of the time
    of scoring a bad prompt.

    Examples:
        >>> from pathlib import Path
        >>> from core import answer_tokens, load_task, quick_task
        >>> answer_tokens(load_task(Path("examples/sentiment.tune.yaml")))  # a label
        24
        >>> answer_tokens(quick_task("Write a poem about a cat"))  # judged: room for an essay
        256
    """
    kinds = {spec.type for spec in task.metric_specs()}
    if kinds & {"judge", "similarity", "custom"}:
        return 256
    if kinds & {"numeric", "regex"}:  # room for a line of working before the final answer
        return 160
    longest = max((len(e.expected or "") for e in task.examples), default=0)
    return 24 if kinds == {"label"} else min(512, max(24, longest // 2 + 16))
