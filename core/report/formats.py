"""A stored run in each report format: Markdown, HTML, JSON (the whole run as one document) and
CSV (one row per candidate)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from ..history import CandidateView, RoundView, RunView
from ..metrics.stats import Estimate
from ..store import Store
from ..templates import TemplateLibrary
from .facts import rejected_facts
from .html import render_html
from .markdown import render_markdown_view

Format = Literal["md", "html", "json", "csv"]
FORMATS: tuple[Format, ...] = ("md", "html", "json", "csv")
CSV_FIELDS = ("rank", "id", "round", "strategy", "operator", "parent", "parents", "generation",
              "status", "original", "returned", "pareto", "dev_score", "dev_low", "dev_high",
              "dev_n", "test_score", "test_low", "test_high", "test_n", "prompt_tokens",
              "tokens_measured", "note", "text")


def render_run(view: RunView, store: Store, fmt: Format,
               templates: TemplateLibrary | None = None) -> str:
    """The run as text in the format asked for."""
    if fmt == "md":
        return render_markdown_view(view, templates)
    if fmt == "html":
        return render_html(view, store, templates)
    if fmt == "json":
        return json.dumps(run_document(view, store), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return run_csv(view)
    raise ValueError(f"unknown report format {fmt!r}")


def _est(e: Estimate | None) -> dict[str, Any] | None:
    return None if e is None else e.to_json()


def _candidate(c: CandidateView, front: set[str]) -> dict[str, Any]:
    return {"id": c.id, "round": c.round, "strategy": c.strategy, "operator": c.operator,
            "generation": c.generation, "parents": c.parents, "status": c.status,
            "original": c.is_original, "returned": c.is_best, "pareto": c.id in front,
            "dev": _est(c.dev), "test": _est(c.test), "prompt_tokens": round(c.prompt_tokens, 2),
            "tokens_measured": c.tokens_measured, "note": c.note, "messages": c.messages,
            "extras": c.extras, "text": c.text}


def _round(r: RoundView) -> dict[str, Any]:
    return {"round": r.round, "best_id": r.best_id, "best": _est(r.best),
            "candidates": r.candidates, "calls": r.calls, "cache_hits": r.cache_hits,
            "tokens": r.tokens, "cost": r.cost, "elapsed_s": r.elapsed_s, "decision": r.decision}


def run_document(view: RunView, store: Store) -> dict[str, Any]:
    """Everything stored about the run, as one JSON-ready document."""
    r = view.run
    settings = json.loads(r["settings_json"]) if r.get("settings_json") else None
    front = view.pareto()
    fixed, broken = view.fixed_and_broken(store)

    def change(c: Any) -> dict[str, Any]:
        return {"index": c.index, "split": c.split, "inputs": c.inputs, "expected": c.expected,
                "original_answer": c.original_answer, "original_score": c.original_score,
                "best_answer": c.best_answer, "best_score": c.best_score}

    return {
        "run": {"id": view.id, "task": r.get("task_name"), "status": view.status,
                "started": view.started, "created_at": r.get("created_at"),
                "finished_at": r.get("finished_at"), "duration_s": view.duration_s,
                "target": r.get("target"), "optimizer": r.get("optimizer"),
                "judge": r.get("judge"), "metric": r.get("metric"), "error": r.get("error"),
                "original_id": view.original.id if view.original else None,
                "best_id": view.best.id if view.best else None},
        "task": view.task, "settings": settings, "result": view.result,
        "candidates": [_candidate(c, front) for c in view.ranked()],
        "rounds": [_round(x) for x in view.rounds],
        "usage": view.usage, "totals": view.totals,
        "metrics": [{"name": m.name, "original": _est(m.original), "best": _est(m.best)}
                    for m in view.metric_breakdown(store)],
        "changes": {"split": view.comparison_split(), "fixed": [change(c) for c in fixed],
                    "broken": [change(c) for c in broken]},
        "lineage": [node.to_json(depth) for depth, node in view.lineage_rows()],
        "baselines": view.baselines.to_json() if view.baselines else None,
        "rejected": rejected_facts(view),
    }


def run_csv(view: RunView) -> str:
    """One row per candidate, best first."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    front = view.pareto()
    for rank, c in enumerate(view.ranked(), 1):
        dev, test = c.dev, c.test
        writer.writerow({
            "rank": rank, "id": c.id, "round": "" if c.round is None else c.round,
            "strategy": c.strategy, "operator": c.operator,
            "parent": c.parents[0] if c.parents else "", "parents": " ".join(c.parents),
            "generation": c.generation, "status": c.status, "original": int(c.is_original),
            "returned": int(c.is_best), "pareto": int(c.id in front),
            "dev_score": _num(dev.mean if dev else None), "dev_low": _num(dev.low if dev else None),
            "dev_high": _num(dev.high if dev else None), "dev_n": dev.n if dev else "",
            "test_score": _num(test.mean if test else None),
            "test_low": _num(test.low if test else None),
            "test_high": _num(test.high if test else None), "test_n": test.n if test else "",
            "prompt_tokens": f"{c.prompt_tokens:.2f}", "tokens_measured": int(c.tokens_measured),
            "note": c.note, "text": c.text})
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"
