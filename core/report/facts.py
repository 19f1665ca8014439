"""What every report format says about a run: which prompt it compares with the original, by how
much it differs, and how scores and numbers are written."""

from __future__ import annotations

from typing import Any

from ..history import CandidateView, RunView, best_so_far
from ..metrics.stats import Estimate


def winner(view: RunView) -> tuple[CandidateView | None, str]:
    """The prompt a report puts beside the original, and what to call it: the returned prompt;
    the search's best when the run kept the original (the gain was not significant); the best so
    far while a run has no result."""
    if view.result is None:
        return best_so_far(view), "best so far"
    best, search = view.best, view.search_best
    if best is not None and not best.is_original:
        return best, "returned"
    if search is not None and not search.is_original:
        return search, "search's best (not returned)"
    return best, "returned"


def headline(view: RunView, c: CandidateView | None) -> Estimate | None:
    return None if c is None else view.headline(c)


def comparison(view: RunView) -> dict[str, Any] | None:
    got = (view.result or {}).get("comparison")
    return got if isinstance(got, dict) and got.get("n") else None


def fmt(e: Estimate | None) -> str:
    return "—" if e is None or not e.n else e.fmt()


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def points(v: float) -> str:
    """A difference of two scores, in percentage points."""
    return f"{v * 100:+.1f} pts"


def made_by(c: CandidateView) -> str:
    if c.is_original:
        return "original"
    if c.strategy and c.strategy not in (c.operator, "original"):
        return f"{c.strategy}/{c.operator}"
    return c.operator or c.strategy or "?"


def split_name(view: RunView) -> str:
    return "held-out" if view.heldout else "dev"


def baseline_facts(view: RunView) -> dict[str, Any] | None:
    """The chance and majority-label baselines in words, for every report format (None: the
    task's answers are open, or nothing was scored)."""
    b = view.baselines
    if b is None:
        return None
    where = "held-out" if b.split == "test" else "dev"
    return {"chance": pct(b.chance), "k": len(b.answers), "label": b.majority_label,
            "train_share": pct(b.majority_train_share), "majority": fmt(b.majority),
            "where": where, "beats": b.beats_majority, "verdict": b.verdict(),
            "p": None if b.comparison is None else f"{b.comparison.p_value:.3g}",
            "diff": None if b.comparison is None else points(b.comparison.diff)}


def rejected_facts(view: RunView) -> dict[str, Any]:
    """How many proposals were rejected before a target call, and why (grouped)."""
    reasons = view.rejected()
    return {"count": sum(n for _, n in reasons),
            "reasons": [{"reason": r, "count": n} for r, n in reasons]}
