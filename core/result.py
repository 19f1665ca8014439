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
