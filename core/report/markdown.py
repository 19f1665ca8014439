"""The Markdown report of a stored run (``templates/report/run.md.j2``): the one written as
``report.md`` when a run ends, and what ``prompt-tuner report`` prints for any past run."""

from __future__ import annotations

from typing import Any

from ..history import CandidateView, RunView
from ..lineage import _describe_demos
from ..templates import TemplateLibrary
from ..textdiff import prompt_diff
from .cost import duration
from .facts import baseline_facts, comparison, fmt, headline, rejected_facts, winner
from .safety import safety_facts

# ``prompt_diff`` is the core's one prompt diff (``core.textdiff``), kept importable from here
__all__ = ["markdown_context", "prompt_diff", "render_markdown_view"]

_NOTES = {"partial": " (partial)", "pruned": " (dropped while racing)",
          "dropped": " (dropped by a reviewer)", "rejected": " (rejected before scoring)"}
_NONE: dict[str, Any] = {"id": "—", "score": "—", "dev": "", "messages": [], "demos": "",
                         "answer_prefix": ""}


def render_markdown_view(view: RunView, templates: TemplateLibrary | None = None) -> str:
    lib = templates or TemplateLibrary()
    return lib.render("report/run.md.j2", **markdown_context(view)) + "\n"


def _prompt(view: RunView, c: CandidateView | None) -> dict[str, Any]:
    if c is None:
        return dict(_NONE)
    demos = c.extras.get("demos")
    return {"id": c.id, "score": fmt(headline(view, c)),
            "dev": fmt(c.dev) if view.heldout else "", "messages": c.messages,
            "demos": _describe_demos(demos) if isinstance(demos, dict) else "",
            "answer_prefix": str(c.extras.get("answer_prefix") or "")}


def _usage(view: RunView) -> dict[str, dict[str, Any]]:
    keys = ("calls", "cache_hits", "retries", "failures", "prompt_tokens", "completion_tokens")
    out = {}
    for spec, u in view.usage.items():
        row = {k: u.get(k, 0) for k in keys}
        mean = u.get("latency_mean_s", "?")
        row["latency_p50_s"] = u.get("latency_p50_s", mean)
        row["latency_p95_s"] = u.get("latency_p95_s", "?")
        out[spec] = row
    return out


def markdown_context(view: RunView) -> dict[str, Any]:
    result = view.result or {}
    orig = view.original
    win, _ = winner(view)
    best = view.best if view.result is not None else win
    best = best or orig
    search = view.search_best if view.result is not None else None
    cmp = comparison(view)
    head = headline(view, best)
    explanation = str(result.get("explanation") or "") if view.result is not None else (
        f"This run has not finished (status: {view.status or 'unknown'}); the scores are dev "
        "scores so far and not yet confirmed.")
    candidates = [{
        "id": c.id, "operator": c.operator, "strategy": c.strategy,
        "parent": c.parents[0] if c.parents else "",
        "score": fmt(c.dev) + _NOTES.get(c.status, ""), "test": fmt(c.test) if c.test else "",
        "chars": len(c.text)} for c in view.ranked()]
    return {
        "run": {"id": view.id, "task_name": view.run.get("task_name") or "?",
                "description": str(view.task.get("description") or ""),
                "target": view.run.get("target") or "?",
                "optimizer": view.run.get("optimizer") or "?",
                "judge": view.run.get("judge") or "?", "metric": view.run.get("metric") or "?",
                "n_examples": head.n if head else 0, "status": view.status or "?",
                "started": view.started, "duration": duration(view.duration_s),
                "splits": result.get("splits") or {}},
        "original": _prompt(view, orig), "best": _prompt(view, best),
        "search_best": {"id": search.id, "score": fmt(headline(view, search))} if search else None,
        "comparison": None if cmp is None else {
            "diff": f"{float(cmp['diff']):+.1%}",
            "ci": f"[{float(cmp['diff_low']):+.1%}, {float(cmp['diff_high']):+.1%}]",
            "p": f"{float(cmp['p_value']):.3g}", "wins": cmp.get("b_wins"),
            "losses": cmp.get("a_wins"), "ties": cmp.get("ties")},
        "explanation": explanation, "measured_on_heldout": view.heldout,
        "diff": "\n".join(prompt_diff(orig.text, best.text, "original", "best", context=2))
                if orig and best else "",
        "candidates": candidates, "usage": _usage(view),
        "warnings": [str(w) for w in result.get("warnings") or []],
        "baselines": baseline_facts(view), "rejected": rejected_facts(view),
        "safety": safety_facts(view),
    }
