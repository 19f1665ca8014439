"""What ``tune`` returns: the winner, the original, every candidate, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .candidate import Candidate
from .metrics.stats import Estimate


@dataclass(frozen=True)
class CandidateResult:
    candidate: Candidate
    estimate: Estimate
    partial: bool = False

    @property
    def id(self) -> str:
        return self.candidate.id

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "id": c.id, "messages": c.to_json(), "parents": list(c.parents),
            "strategy": c.strategy, "operator": c.operator, "generation": c.generation,
            "note": c.note, "score": self.estimate.mean, "ci": [self.estimate.low, self.estimate.high],
            "n": self.estimate.n, "partial": self.partial,
        }


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
            "warnings": self.warnings, "candidates": [c.to_json() for c in self.candidates],
        }


def explain(orig: CandidateResult, best: CandidateResult, wins: int, losses: int, p: float,
            improved: bool) -> str:
    if not improved:
        return (f"No candidate beat the original prompt ({orig.estimate.fmt()}); it is kept. "
                "Try more examples, more variations (--profile thorough) or a stronger "
                "--optimizer.")
    c = best.candidate
    parent = f"`{c.parents[0]}`" if c.parents else "the original"
    how = {
        "vary": f"a variation the optimizer proposed for {parent}",
        "refine": f"the optimizer's rewrite of {parent} against the examples it got wrong",
    }.get(c.operator, f"made by {c.operator} from {parent}")
    if c.parents and c.parents[0] == orig.id:
        how = how.replace(parent, "the original")
    lines = [
        f"The best prompt `{c.id}` is {how}.",
        f"It scores {best.estimate.fmt()} against the original's {orig.estimate.fmt()} on the "
        f"same examples: it fixed {wins} and broke {losses} (paired sign test p={p:.3g}).",
    ]
    if p >= 0.05:
        lines.append("The difference is not statistically significant at this sample size; "
                     "confirm it on more examples before shipping.")
    return " ".join(lines)
