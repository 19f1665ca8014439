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
