"""Picking the search's winner: among the candidates the dev examples cannot tell apart from the
best, the cheapest to run — fewest prompt tokens per answer (demonstrations included), then the
least cost — a Pareto pick on score x tokens x cost.

A candidate is tied with the best when the paired permutation test at the run's alpha cannot
separate them on the same dev examples and its score lies within one standard error of the paired
difference below the best's (the one-standard-error rule for preferring the simpler of two
models). On a dozen examples no test separates anything and the best's 95% interval is some
forty points wide; the paired standard error still keeps a candidate two answers behind out of the
tie, while one that answers like the best on nearly every example stays in it.
The original prompt is never a tie-break choice: whether the pick beats it is what the held-out
confirmation decides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .evaluator import Evaluation
from .metrics.stats import compare_paired, sign_test
from .models.base import Completion

PriceFn = Callable[[Completion], float]


@dataclass(frozen=True)
class Pick:
    chosen: Evaluation
    top: Evaluation                   # the highest dev score
    tied: tuple[Evaluation, ...]      # statistically tied with ``top`` (itself included)
    reason: str = ""                  # why ``chosen`` is not ``top``; empty when it is
    note: str = ""                    # the same, short, for the winner's note


@dataclass(frozen=True)
class Footprint:
    """What one answer costs to get: prompt tokens (demonstrations included) and money."""

    tokens: float
    cost: float


def footprint(ev: Evaluation, price: PriceFn | None) -> Footprint:
    comps = [r.completion for r in ev.results.values() if r.completion is not None]
    if not comps:
        return Footprint(float("inf"), float("inf"))
    tokens = sum(c.prompt_tokens for c in comps) / len(comps)
    cost = sum(price(c) for c in comps) / len(comps) if price is not None else 0.0
    return Footprint(tokens, cost)


def within_one_se(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``b`` falls short of ``a`` by at most one standard error of the paired difference.

    >>> within_one_se([1] * 12, [1] * 11 + [0])       # one answer behind, on 12 examples
    True
    >>> within_one_se([1] * 12, [1] * 10 + [0, 0])    # two behind
    False
    >>> within_one_se([1, 0] * 50, [0, 1] * 50)       # as good, on other examples
    True
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size < 2:
        return bool(d.size == 1 and d[0] <= 0)
    se = float(d.std(ddof=1)) / math.sqrt(d.size)
    return float(d.mean()) <= se + 1e-12


def _tied(top: Evaluation, other: Evaluation, alpha: float, seed: int) -> bool:
    """Not significantly worse in the paired test, and within one paired standard error of the
    best: on a handful of examples no test separates anything, and a candidate clearly behind the
    best is no tie."""
    shared = sorted(top.results.keys() & other.results.keys())
    if not shared or len(shared) != len(top.results):
        return False  # not scored on the same examples: no paired test, no tie
    a = [top.example_score(i) for i in shared]
    b = [other.example_score(i) for i in shared]
    if not within_one_se(a, b):
        return False
    return not compare_paired(a, b, alpha=alpha, seed=seed).significant


def pick(ranked: Sequence[Evaluation], original_id: str, *, alpha: float, seed: int,
         price: PriceFn | None = None) -> Pick:
    """``ranked``: fully scored candidates, best first (the original wins exact ties)."""
    top = ranked[0]
    if top.candidate.id == original_id:
        return Pick(top, top, (top,))
    tied = [top] + [e for e in ranked[1:] if e.candidate.id != original_id
                    and _tied(top, e, alpha, seed)]
    feet = {e.candidate.id: footprint(e, price) for e in tied}
    chosen = min(tied, key=lambda e: (feet[e.candidate.id].tokens, feet[e.candidate.id].cost,
                                      -e.mean(), e.candidate.id))
    if chosen is top:
        return Pick(top, top, tuple(tied))
    mine, theirs = feet[chosen.candidate.id], feet[top.candidate.id]
    money = "" if price is None or theirs.cost == mine.cost else \
        f", ${mine.cost * 1000:.4f} against ${theirs.cost * 1000:.4f} per thousand answers"
    others = len(tied) - 1
    reason = (
        f"`{top.candidate.id}` scored highest on dev ({top.mean():.0%}), but {others} "
        f"candidate{'s are' if others > 1 else ' is'} statistically tied with it (paired "
        f"permutation test on the same {len(top.results)} examples, p >= {alpha:g}, and "
        f"within one standard error of the paired difference); the "
        f"cheapest of them, `{chosen.candidate.id}` ({chosen.mean():.0%}), is picked: "
        f"{mine.tokens:.0f} prompt tokens per answer, demonstrations included, against "
        f"{theirs.tokens:.0f}{money}.")
    note = (f"picked over `{top.candidate.id}` ({top.mean():.0%}, tied on dev at alpha "
            f"{alpha:g}) as the cheaper: {mine.tokens:.0f} prompt tokens per answer against "
            f"{theirs.tokens:.0f}")
    return Pick(chosen, top, tuple(tied), reason, note)


def cut_short_winner(evaluations: Sequence[Evaluation], original: Evaluation, n_dev: int, *,
                     alpha: float) -> Pick | None:
    """Among ``evaluations`` the budget cut short (fewer than ``n_dev`` dev answers), the one
    that beats ``original`` most on the dev examples both answered, when they are at least half
    of them and the paired sign test says so at ``alpha``; as a Pick whose reason and note say
    on what evidence. For a run whose budget ran out while no fully scored candidate beat the
    original: without it, a clearly better prompt cut off mid-evaluation lost by default. The
    held-out check still decides."""
    best: tuple[float, Pick] | None = None
    for e in evaluations:
        if e.candidate.id == original.candidate.id or (not e.partial and len(e.results) >= n_dev):
            continue
        shared = sorted(original.results.keys() & e.results.keys())
        if not shared or len(shared) * 2 < n_dev:
            continue
        theirs = [original.example_score(i) for i in shared]
        mine = [e.example_score(i) for i in shared]
        _, _, p = sign_test(theirs, mine)
        a, b = sum(mine) / len(shared), sum(theirs) / len(shared)
        if p >= alpha or a <= b or (best is not None and a - b <= best[0]):
            continue
        reason = (f"The budget ran out while `{e.candidate.id}` was being scored: it answered "
                  f"{len(shared)} of the {n_dev} dev examples and beat the original on those "
                  f"({a:.0%} against {b:.0%}, paired sign test p={p:.2g} < {alpha:g}), while no "
                  f"fully scored candidate did, so it went to the held-out check.")
        note = (f"scored on {len(shared)} of {n_dev} dev examples when the budget ran out; "
                f"{a:.0%} against the original's {b:.0%} on those (p={p:.2g})")
        best = (a - b, Pick(e, e, (e,), reason, note))
    return None if best is None else best[1]
