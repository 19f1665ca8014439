"""A finished search in numbers: the winner against the original (on held-out examples when the
run kept some), whether it is returned, every candidate's scores and the explanation in words.

A pure function of what the engine measured: no model call, no store, no files. The engine
stores the result and writes the run's files (``core.run_files``) from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .evaluator import Evaluation
from .metrics.stats import compare_paired
from .result import CandidateResult, TuneResult, explain


@dataclass(frozen=True)
class Confirmation:
    """The original and the search's pick, scored where the verdict is made: the held-out test
    split when there is one (``heldout``), else the dev examples the search used."""

    original: Evaluation
    best: Evaluation
    heldout: bool


@dataclass(frozen=True)
class Measured:
    """What the run measured, as the outcome needs it."""

    run_id: str
    task_name: str
    status: str                              # finished | budget_exhausted
    original_id: str
    evaluations: Mapping[str, Evaluation]    # on dev
    heldout: Mapping[str, Evaluation]        # on test
    pruned: frozenset[str]
    dropped: frozenset[str]
    splits: Mapping[str, int]                # train/dev/test sizes (test 0: nothing held out)
    pick_reason: str = ""
    attribution: str = ""


def outcome(m: Measured, conf: Confirmation, *, alpha: float, seed: int, keep_best: bool,
            usage: dict[str, dict[str, Any]], calls: int, cache_hits: int, duration_s: float,
            warnings: list[str]) -> TuneResult:
    """The result: the pick is returned when it beats the original significantly on held-out
    examples (or, with ``keep_best``, at all); without held-out examples, when it scores more."""
    orig_ev, best_ev = conf.original, conf.best
    shared = sorted(orig_ev.results.keys() & best_ev.results.keys())
    a = [orig_ev.example_score(i) for i in shared]
    b = [best_ev.example_score(i) for i in shared]
    searched_best = best_ev.candidate.id != m.original_id
    comparison = compare_paired(a, b, alpha=alpha, seed=seed) if searched_best and shared else None
    significant = comparison is not None and comparison.significant and comparison.diff > 0
    if conf.heldout:
        improved = searched_best and (significant or keep_best)
    else:
        improved = searched_best and sum(b) > sum(a)
    chosen = best_ev if improved else orig_ev
    results = []
    for ev in m.evaluations.values():
        held = m.heldout.get(ev.candidate.id)
        results.append(CandidateResult(ev.candidate, ev.estimate(seed), ev.partial,
                                       dev=ev.estimate(seed),
                                       test=held.estimate(seed) if held else None,
                                       pruned=ev.candidate.id in m.pruned,
                                       dropped=ev.candidate.id in m.dropped))
    by_id = {r.id: r for r in results}

    def headline(ev: Evaluation) -> CandidateResult:
        return replace(by_id[ev.candidate.id], estimate=ev.estimate(seed))

    original_r, best_r, search_best = headline(orig_ev), headline(chosen), headline(best_ev)
    explanation = " ".join(part for part in (
        explain(original_r, search_best, comparison, improved, heldout=conf.heldout,
                alpha=alpha, kept=not improved), m.pick_reason, m.attribution) if part)
    return TuneResult(
        run_id=m.run_id, task_name=m.task_name, status=m.status, original=original_r,
        best=best_r, candidates=results, explanation=explanation,
        p_value=comparison.p_value if comparison else None, improved=improved, usage=usage,
        calls=calls, cache_hits=cache_hits, duration_s=duration_s, warnings=warnings,
        heldout=conf.heldout, search_best=search_best, comparison=comparison,
        splits=dict(m.splits), pick=m.pick_reason, attribution=m.attribution)
