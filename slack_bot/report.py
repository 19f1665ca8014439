"""The numbers a finished run's report shows, gathered from the run's result (``result.json``'s
shape, kept in the store) and its per-example scores (the store), so the same report can be
posted right after a run or by a bot restarted after the run ended.

The winner is tested against the original on the same examples with the core's paired test
(``compare_paired``: bootstrap CI of the difference, permutation p-value).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from core import Estimate, Message, PairedComparison, Store, compare_paired, safety_summary


@dataclass(frozen=True)
class Paired:
    """The winner against the original on the same examples."""

    n: int
    diff: float          # winner - original
    diff_low: float
    diff_high: float
    p_value: float       # paired permutation test
    verdict: str

    @classmethod
    def of(cls, c: PairedComparison | dict[str, Any]) -> Paired:
        d = c if isinstance(c, dict) else c.to_json()
        return cls(int(d["n"]), float(d["diff"]), float(d["diff_low"]), float(d["diff_high"]),
                   float(d["p_value"]), str(d.get("verdict") or ""))


@dataclass(frozen=True)
class CandidateLine:
    id: str
    operator: str
    estimate: Estimate
    partial: bool
    messages: tuple[Message, ...]

    def text(self) -> str:
        if len(self.messages) == 1:
            return self.messages[0].content
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.messages)


@dataclass(frozen=True)
class ReportData:
    run_id: str
    task_name: str
    status: str
    improved: bool
    original: CandidateLine
    best: CandidateLine
    paired: Paired | None
    heldout: bool
    explanation: str
    calls: int
    cache_hits: int
    tokens: int
    cost: float
    duration_s: float
    top: list[CandidateLine]
    diff: str
    report_path: str = ""
    warnings: list[str] = field(default_factory=list)
    safety: str = ""     # the safety screening's counts in one line (core.safety_summary)

    def summary(self) -> str:
        """One line for notifications and the message's fallback text."""
        if not self.improved:
            return (f"Tuned {self.task_name}: no candidate beat the original "
                    f"({self.original.estimate.fmt()}); it is kept.")
        p = f", p={self.paired.p_value:.3g}" if self.paired is not None else ""
        return (f"Tuned {self.task_name}: winner {self.best.estimate.fmt()} vs original "
                f"{self.original.estimate.fmt()}{p}")


def messages_of(raw: Any) -> tuple[Message, ...]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return tuple(Message(m["role"], m["content"]) for m in raw)


def _line(c: dict[str, Any]) -> CandidateLine:
    low, high = c["ci"]
    return CandidateLine(c["id"], c.get("operator") or "", Estimate(c["score"], low, high, c["n"]),
                         bool(c.get("partial")), messages_of(c["messages"]))


def prompt_diff(before: str, after: str) -> str:
    return "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), "original",
                                          "winner", lineterm="", n=2))


def paired_scores(store: Store, run_id: str, a_id: str, b_id: str) -> tuple[list[float], list[float]]:
    """Scores of two candidates on the examples both were scored on, in example order."""
    a = {r["example_index"]: r["score"] for r in store.evaluations(run_id, a_id, split="dev")}
    b = {r["example_index"]: r["score"] for r in store.evaluations(run_id, b_id, split="dev")}
    shared = sorted(a.keys() & b.keys())
    return [float(a[i]) for i in shared], [float(b[i]) for i in shared]


def build_report(result: dict[str, Any], store: Store, top_n: int = 3) -> ReportData:
    lines = [_line(c) for c in result["candidates"]]
    by_id = {c.id: c for c in lines}
    original, best = by_id[result["original_id"]], by_id[result["best_id"]]
    paired = None
    if best.id != original.id and result.get("comparison"):
        paired = Paired.of(result["comparison"])  # the core's own test (held out when it could)
    elif best.id != original.id:
        a, b = paired_scores(store, result["run_id"], original.id, best.id)
        if a:
            paired = Paired.of(compare_paired(a, b))
    usage = result.get("usage") or {}
    tokens = sum(int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
                 for u in usage.values())
    cost = sum(float(u.get("cost", 0.0)) for u in usage.values())
    # the winner first, then complete scores from best to worst, then cut-short ones
    ranked = sorted(lines, key=lambda c: (c.id != best.id, c.partial, -c.estimate.mean,
                                          c.id != original.id))
    return ReportData(
        run_id=result["run_id"], task_name=result["task"], status=result["status"],
        improved=bool(result["improved"]), original=original, best=best, paired=paired,
        heldout=bool(result.get("heldout")),
        explanation=result.get("explanation", ""), calls=int(result.get("calls", 0)),
        cache_hits=int(result.get("cache_hits", 0)), tokens=tokens, cost=cost,
        duration_s=float(result.get("duration_s", 0.0)), top=ranked[:top_n],
        diff=prompt_diff(original.text(), best.text()), report_path=result.get("report_path", ""),
        warnings=list(result.get("warnings") or []),
        safety=safety_summary(result.get("safety")) or "",
    )
