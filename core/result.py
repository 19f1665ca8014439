"""What ``tune`` returns: the winner, the original, every candidate, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .candidate import Candidate
from .metrics.stats import Estimate, PairedComparison


@dataclass(frozen=True)
class CandidateResult:
    """A candidate and its score. ``estimate`` is the headline number: held-out (test) for the
    original and the winner when the run held examples out, dev otherwise."""

    candidate: Candidate
    estimate: Estimate
    partial: bool = False
    dev: Estimate | None = None
    test: Estimate | None = None
    pruned: bool = False
    dropped: bool = False     # taken out by a person (interactive review)

    @property
    def id(self) -> str:
        return self.candidate.id

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "id": c.id, "messages": c.to_json(), "parents": list(c.parents),
            "strategy": c.strategy, "operator": c.operator, "generation": c.generation,
            "note": c.note, "extras": c.extras(), "score": self.estimate.mean,
            "ci": [self.estimate.low, self.estimate.high], "n": self.estimate.n,
            "partial": self.partial, "pruned": self.pruned, "dropped": self.dropped,
            "dev": _est(self.dev), "test": _est(self.test),
        }


def _est(e: Estimate | None) -> dict[str, float | int] | None:
    return None if e is None else e.to_json()


@dataclass
class TuneResult:
    run_id: str
    task_name: str
    status: str  # finished | budget_exhausted
    original: CandidateResult
    best: CandidateResult
    candidates: list[CandidateResult]
    explanation: str
    p_value: float | None
    improved: bool
    usage: dict[str, dict[str, Any]]
    calls: int
    cache_hits: int
    duration_s: float
    report_path: str = ""
    json_path: str = ""
    warnings: list[str] = field(default_factory=list)
    heldout: bool = False                      # scores of original/best are on unseen examples
    search_best: CandidateResult | None = None  # the dev winner (may differ from `best`)
    comparison: PairedComparison | None = None  # search_best vs original, paired
    splits: dict[str, int] = field(default_factory=dict)
    pick: str = ""         # why the winner was picked over a higher-scoring tie (core.selection)
    attribution: str = ""  # what carries the winner's gain (core.attribution)
    safety: dict[str, Any] = field(default_factory=dict)  # core.safety: settings and counts

    @property
    def best_prompt(self) -> str:
        return self.best.candidate.text()

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "task": self.task_name, "status": self.status,
            "best_prompt": self.best_prompt, "best_id": self.best.id,
            "best_messages": self.best.candidate.to_json(),
            "original_id": self.original.id,
            "baseline_score": self.original.estimate.mean,
            "baseline_ci": [self.original.estimate.low, self.original.estimate.high],
            "best_score": self.best.estimate.mean,
            "best_ci": [self.best.estimate.low, self.best.estimate.high],
            "n": self.best.estimate.n, "p_value": self.p_value, "improved": self.improved,
            "explanation": self.explanation, "calls": self.calls, "cache_hits": self.cache_hits,
            "usage": self.usage, "duration_s": round(self.duration_s, 3),
            "report_path": self.report_path, "json_path": self.json_path,
            "warnings": self.warnings, "heldout": self.heldout, "splits": self.splits,
            "search_best_id": self.search_best.id if self.search_best else None,
            "comparison": self.comparison.to_json() if self.comparison else None,
            "pick": self.pick, "attribution": self.attribution, "safety": self.safety,
            "candidates": [c.to_json() for c in self.candidates],
        }


def explain(orig: CandidateResult, best: CandidateResult, comparison: PairedComparison | None,
            improved: bool, *, heldout: bool, alpha: float = 0.05, kept: bool = False) -> str:
    """What happened, in words: the winner, how it was made, and how sure the numbers are."""
    where = "on held-out examples the search never saw" if heldout else \
        "on the same examples the search used (too few to hold any out)"
    if best.id == orig.id or comparison is None:
        return (f"No candidate beat the original prompt ({orig.estimate.fmt()}); it is kept. "
                "Try more examples, another --strategy, a bigger budget or a stronger "
                "--optimizer.")
    c = best.candidate
    parent = f"`{c.parents[0]}`" if c.parents else "the original"
    how = {
        "vary": f"a variation the optimizer proposed for {parent}",
        "refine": f"the optimizer's rewrite of {parent} against the examples it got wrong",
        "format": f"{parent} with the output format stated",
        "demos": f"{parent} with demonstrations ({c.demos.describe() if c.demos else ''})",
        "cot": f"{parent} reasoning first, then an answer line",
        "opro": "a prompt the optimizer wrote from the scored trajectory",
        "mutate": f"an evolved mutation of {parent}",
        "crossover": "an evolved crossover of two prompts",
        "user": "a prompt written by the reviewer",
        "edit": f"the reviewer's edit of {parent}",
    }.get(c.operator, f"made by {c.operator} from {parent}")
    if c.parents and c.parents[0] == orig.id:
        how = how.replace(parent, "the original")
    cmp = comparison
    lines = [
        f"The search's best prompt `{c.id}` is {how}.",
        f"{where.capitalize()}, it scores {best.estimate.fmt()} against the original's "
        f"{orig.estimate.fmt()}: a difference of {cmp.diff:+.1%} [{cmp.diff_low:+.1%}, "
        f"{cmp.diff_high:+.1%}], better on {cmp.b_wins} and worse on {cmp.a_wins} examples "
        f"(paired permutation test p={cmp.p_value:.3g}).",
    ]
    if improved and cmp.significant:
        lines.append("The gain is statistically significant.")
    elif improved:
        lines.append("The difference is not statistically significant; it is returned because "
                     "it measured higher" + (" (keep_best)" if heldout else "") +
                     " — confirm it on more examples before shipping.")
    elif kept:
        lines.append(f"The gain is not significant at alpha {alpha:g}, so the original prompt "
                     "is returned (tune.keep_best returns the search's best anyway).")
    return " ".join(lines)
