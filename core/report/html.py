"""The HTML report of a run: one self-contained file (inline CSS, inline SVG charts, no script,
no font or anything else fetched) rendered from the stored run by ``templates/report/run.html.j2``,
which escapes everything it inserts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup

from ..clusters import candidate_map
from ..history import CandidateView, ExampleChange, RunView
from ..lineage import word_diff
from ..store import Store
from ..templates import TemplateLibrary
from .charts import leaderboard_chart, metrics_chart, pareto_chart, rounds_chart
from .cluster_chart import cluster_chart
from .cost import cost_chart, duration, money, phases
from .facts import (
    baseline_facts,
    comparison,
    fmt,
    headline,
    made_by,
    pct,
    points,
    rejected_facts,
    split_name,
    winner,
)
from .learned import learned_facts
from .safety import safety_facts
from .svg import compact
from .tree import lineage_chart

SHOWN_CHANGES = 12
_CLIP = 300
_STATUS = {"finished": "good", "budget_exhausted": "warn", "running": "info"}


def render_html(view: RunView, store: Store, templates: TemplateLibrary | None = None) -> str:
    lib = templates or TemplateLibrary()
    return lib.render("report/run.html.j2", **html_context(view, store)) + "\n"


def html_context(view: RunView, store: Store) -> dict[str, Any]:
    breakdown = view.metric_breakdown(store)
    charts: dict[str, Markup] = {
        "rounds": rounds_chart(view), "leaderboard": leaderboard_chart(view),
        "pareto": pareto_chart(view), "metrics": metrics_chart(view, breakdown),
        "lineage": lineage_chart(view), "cost": cost_chart(view),
        "clusters": cluster_chart(candidate_map(view))}
    result = view.result or {}
    return {
        "page_title": f"{view.run.get('task_name') or 'run'} · prompt-tuner run {view.id}",
        "run": _run(view), "tiles": _tiles(view), "verdict": _verdict(view),
        "warnings": [str(w) for w in result.get("warnings") or []],
        "charts": charts, "split": split_name(view), "prompts": _prompts(view),
        "changes": _changes(view, store), "candidates": _candidates(view),
        "usage": _usage(view), "spent": _spent(view), "phases": _phases(view),
        "baselines": baseline_facts(view), "rejected": rejected_facts(view),
        "learned": learned_facts(view, store), "safety": safety_facts(view),
        "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def _run(view: RunView) -> dict[str, Any]:
    r, task = view.run, view.task
    splits = (view.result or {}).get("splits") or {}
    split_text = (f"{splits.get('train', 0)} train · {splits.get('dev', 0)} dev · "
                  f"{splits.get('test', 0)} test" if splits else "")
    return {"id": view.id, "task": r.get("task_name") or "?",
            "description": str(task.get("description") or "") if isinstance(task, dict) else "",
            "status": view.status or "?", "status_class": _STATUS.get(view.status, "bad"),
            "started": view.started, "duration": duration(view.duration_s),
            "target": r.get("target") or "", "optimizer": r.get("optimizer") or "",
            "metric": r.get("metric") or "", "splits": split_text,
            "finished": view.result is not None, "error": r.get("error") or ""}


def _tile(label: str, value: str, sub: str = "", cls: str = "") -> dict[str, str]:
    return {"label": label, "value": value, "sub": sub, "cls": cls}


def _tiles(view: RunView) -> list[dict[str, str]]:
    where = split_name(view)
    orig, (win, role) = view.original, winner(view)
    o, w = headline(view, orig), headline(view, win)
    tiles = [_tile(f"Original · {where}", pct(o.mean if o else None), _ci(o), "orig")]
    tiles.append(_tile(f"{role.split(' (')[0].capitalize()} · {where}",
                       pct(w.mean if w else None), _ci(w),
                       "good" if win is not None and not win.is_original else ""))
    cmp = comparison(view)
    if cmp is not None:
        sig = bool(cmp.get("significant"))
        low, high = float(cmp["diff_low"]) * 100, float(cmp["diff_high"]) * 100
        tiles.append(_tile("Change", points(float(cmp["diff"])),
                           f"[{low:+.1f}, {high:+.1f}] · p={float(cmp['p_value']):.3g}",
                           "good" if sig and float(cmp["diff"]) > 0 else "warn"))
    else:
        tiles.append(_tile("Change", "—", "no paired comparison", ""))
    pruned = sum(1 for c in view.candidates if c.status in ("pruned", "dropped"))
    rejected = sum(1 for c in view.candidates if c.status == "rejected")
    rounds = max((r.round for r in view.rounds), default=0)
    tiles.append(_tile("Candidates", str(len(view.candidates)),
                       f"{rounds} round{'s' if rounds != 1 else ''} · {pruned} dropped early"
                       + (f" · {rejected} rejected" if rejected else "")))
    t = view.totals
    tokens = int(t.get("prompt_tokens") or 0) + int(t.get("completion_tokens") or 0)
    tiles.append(_tile("Spent", f"{int(t.get('calls') or 0):,} calls",
                       f"{compact(tokens)} tokens · {money(float(t.get('cost') or 0))} · "
                       f"{duration(view.duration_s)}"))
    return tiles


def _ci(e: Any) -> str:
    return "" if e is None or not e.n else f"[{e.low:.0%}, {e.high:.0%}] · n={e.n}"


def _verdict(view: RunView) -> dict[str, str]:
    result = view.result
    if result is None:
        return {"cls": "info", "title": f"This run has not finished ({view.status or 'unknown'})",
                "text": "The numbers below are what the store held when this report was made; "
                        "scores are on the dev examples and not yet confirmed."}
    cmp = comparison(view)
    base = view.baselines
    if result.get("improved") and base is not None and base.beats_majority is False:
        cls = "warn"
        head = (f"The tuned prompt is not significantly better than always answering "
                f"`{base.majority_label}` ({base.majority.mean:.0%})")
    elif result.get("improved") and cmp is not None and cmp.get("significant"):
        cls, head = "good", "The tuned prompt is better, and the gain is significant"
    elif result.get("improved"):
        cls, head = "warn", "The tuned prompt measured higher, but not significantly"
    else:
        cls, head = "neutral", "The original prompt was kept"
    return {"cls": cls, "title": head, "text": str(result.get("explanation") or "")}


def _segments(a: str, b: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int, int]:
    """The word diff as the left side (kept and deleted) and the right side (kept and inserted)."""
    left, right, deleted, inserted = [], [], 0, 0
    for op, text in word_diff(a, b):
        if op != "insert":
            left.append(("del" if op == "delete" else "", text))
        if op != "delete":
            right.append(("ins" if op == "insert" else "", text))
        deleted += len(text.split()) if op == "delete" else 0
        inserted += len(text.split()) if op == "insert" else 0
    return left, right, deleted, inserted


def _side(view: RunView, c: CandidateView, role: str, segments: list[tuple[str, str]]
          ) -> dict[str, Any]:
    e = headline(view, c)
    return {"role": role, "id": c.id, "made": made_by(c), "score": fmt(e),
            "tokens": f"{c.prompt_tokens:.0f}", "segments": segments}


def _prompts(view: RunView) -> dict[str, Any] | None:
    orig, (win, role) = view.original, winner(view)
    if orig is None:
        return None
    if win is None or win.id == orig.id:
        return {"same": True, "left": _side(view, orig, "original", [("", orig.text)]),
                "right": None, "deleted": 0, "inserted": 0}
    left, right, deleted, inserted = _segments(orig.text, win.text)
    return {"same": False, "left": _side(view, orig, "original", left),
            "right": _side(view, win, role, right), "deleted": deleted, "inserted": inserted}


def _clip(text: Any, width: int = _CLIP) -> str:
    flat = str(text if text is not None else "")
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _change(c: ExampleChange) -> dict[str, Any]:
    inputs = "\n".join(f"{k}: {v}" for k, v in c.inputs.items())
    return {"index": c.index, "inputs": _clip(inputs), "expected": _clip(c.expected or "—", 200),
            "original": _clip(c.original_answer), "original_score": f"{c.original_score:.2f}",
            "best": _clip(c.best_answer), "best_score": f"{c.best_score:.2f}"}


def _changes(view: RunView, store: Store) -> dict[str, Any]:
    fixed, broken = view.fixed_and_broken(store)
    win, role = winner(view)
    return {"split": split_name(view), "who": role.split(" (")[0],
            "compared": bool(view.changes(store)) if win is not None else False,
            "fixed": [_change(c) for c in fixed[:SHOWN_CHANGES]],
            "broken": [_change(c) for c in broken[:SHOWN_CHANGES]],
            "more_fixed": max(0, len(fixed) - SHOWN_CHANGES),
            "more_broken": max(0, len(broken) - SHOWN_CHANGES)}


def _candidates(view: RunView) -> list[dict[str, Any]]:
    front = view.pareto()
    out = []
    for rank, c in enumerate(view.ranked(), 1):
        out.append({"rank": rank, "id": c.id, "round": "—" if c.round is None else c.round,
                    "made": made_by(c), "parent": ", ".join(c.parents) or "—",
                    "status": c.status, "dev": fmt(c.dev), "test": fmt(c.test),
                    "tokens": f"{c.prompt_tokens:.0f}" + ("" if c.tokens_measured else "*"),
                    "text": c.text, "preview": _clip(" ".join(c.text.split()), 90),
                    "note": c.note, "front": c.id in front, "original": c.is_original,
                    "best": c.is_best})
    return out


def _usage(view: RunView) -> list[dict[str, Any]]:
    rows = []
    for spec, u in view.usage.items():
        latency = u.get("latency_p50_s", u.get("latency_mean_s"))
        rows.append({"spec": spec, "calls": f"{int(u.get('calls') or 0):,}",
                     "cache_hits": f"{int(u.get('cache_hits') or 0):,}",
                     "retries": f"{int(u.get('retries') or 0):,}",
                     "prompt_tokens": f"{int(u.get('prompt_tokens') or 0):,}",
                     "completion_tokens": f"{int(u.get('completion_tokens') or 0):,}",
                     "cost": money(float(u.get("cost") or 0.0)),
                     "latency": "—" if latency is None else duration(float(latency))})
    return rows


def _spent(view: RunView) -> list[dict[str, str]]:
    t = view.totals
    calls, hits = int(t.get("calls") or 0), int(t.get("cache_hits") or 0)
    rate = f"{hits / (calls + hits):.0%} of requests" if calls + hits else ""
    return [
        {"label": "calls sent", "value": f"{calls:,}", "sub": f"{int(t.get('retries') or 0)} retries"},
        {"label": "cache hits", "value": f"{hits:,}", "sub": rate},
        {"label": "prompt tokens", "value": f"{int(t.get('prompt_tokens') or 0):,}",
         "sub": f"{int(t.get('completion_tokens') or 0):,} completion"},
        {"label": "cost", "value": money(float(t.get("cost") or 0.0)), "sub": "at configured prices"},
        {"label": "time", "value": duration(view.duration_s), "sub": "wall clock"},
    ]


def _phases(view: RunView) -> list[dict[str, str]]:
    return [{"label": p.label, "calls": f"{p.calls:,}", "cache_hits": f"{p.cache_hits:,}",
             "tokens": f"{p.tokens:,}", "cost": money(p.cost), "time": duration(p.seconds)}
            for p in phases(view)]
