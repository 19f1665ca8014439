"""The numbers a finished run's report shows, read back with the core's ``load_run`` (the run as
stored, given its result: ``result.json``'s shape, kept in the store), so the same report can be
posted right after a run or by a bot restarted after the run ended.

The winner against the original is the core's own paired test, from the result; a result
without one is tested on the examples both answered (``compare_paired``: bootstrap CI of the
difference, permutation p-value).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core import (
    CandidateView,
    Estimate,
    Message,
    PairedComparison,
    RunView,
    Store,
    compare_paired,
    load_run,
    messages_text,
    prompt_diff,
    safety_summary,
)


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
        return messages_text(self.messages)


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


def _line(c: CandidateView, estimate: Estimate) -> CandidateLine:
    return CandidateLine(c.id, c.operator, estimate, c.status == "partial", messages_of(c.messages))


def _paired(view: RunView, store: Store) -> Paired | None:
    """The winner against the original: the core's test from the result (held out when it could
    be), else one on the examples both answered; None when the original is kept."""
    if view.best is None or view.best.is_original:
        return None
    if (view.result or {}).get("comparison"):
        return Paired.of((view.result or {})["comparison"])
    changes = view.changes(store)
    if not changes:
        return None
    return Paired.of(compare_paired([c.original_score for c in changes],
                                    [c.best_score for c in changes]))


def build_report(result: dict[str, Any], store: Store, top_n: int = 3) -> ReportData:
    view = load_run(store, result["run_id"], result=result)
    lines = [_line(c, c.dev) for c in view.candidates if c.dev is not None]
    orig_view, best_view = view.original, view.best
    assert orig_view is not None and best_view is not None, "a finished run has both"
    by_id = {c.id: c for c in lines}
    # the original and the winner as the run judged them (held out when it could), the rest on dev
    original = _line(orig_view, view.headline(orig_view) or by_id[orig_view.id].estimate)
    best = _line(best_view, view.headline(best_view) or by_id[best_view.id].estimate)
    totals = view.totals
    # the winner first, then complete scores from best to worst, then cut-short ones
    ranked = sorted(lines, key=lambda c: (c.id != best.id, c.partial, -c.estimate.mean,
                                          c.id != original.id))
    return ReportData(
        run_id=view.id, task_name=str(view.run.get("task_name") or result.get("task") or ""),
        status=view.status, improved=bool(result.get("improved")), original=original, best=best,
        paired=_paired(view, store), heldout=view.heldout,
        explanation=str(result.get("explanation") or ""), calls=int(totals["calls"]),
        cache_hits=int(totals["cache_hits"]),
        tokens=int(totals["prompt_tokens"]) + int(totals["completion_tokens"]),
        cost=float(totals["cost"]), duration_s=view.duration_s or 0.0, top=ranked[:top_n],
        diff="\n".join(prompt_diff(original.text(), best.text(), "original", "winner", context=2)),
        report_path=str(result.get("report_path") or ""),
        warnings=list(result.get("warnings") or []),
        safety=safety_summary(result.get("safety")) or "",
    )
