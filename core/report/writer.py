"""Write a finished run as ``report.md`` and ``result.json`` in its run folder."""

from __future__ import annotations

import datetime as dt
import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..result import TuneResult
    from ..store import Store
    from ..templates import TemplateLibrary


def prompt_diff(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "original", "best",
                                 lineterm="", n=2)
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f} min"


def render_markdown(result: TuneResult, store: Store, templates: TemplateLibrary) -> str:
    run = store.get_run(result.run_id)
    started = dt.datetime.fromtimestamp(run["created_at"]).strftime("%Y-%m-%d %H:%M")
    ranked = sorted(result.candidates, key=lambda c: (c.pruned or c.partial, -c.estimate.mean))
    candidates = [{
        "id": c.id, "operator": c.candidate.operator, "strategy": c.candidate.strategy,
        "parent": c.candidate.parents[0] if c.candidate.parents else "",
        "score": c.estimate.fmt() + (" (partial)" if c.partial else "")
        + (" (dropped while racing)" if c.pruned else ""),
        "test": c.test.fmt() if c.test else "",
        "chars": len(c.candidate.text()),
    } for c in ranked]
    cmp = result.comparison
    return templates.render(
        "report/run.md.j2",
        run={"id": result.run_id, "task_name": result.task_name, "description":
             json.loads(run["task_json"]).get("description", ""), "target": run["target"],
             "optimizer": run["optimizer"], "judge": run["judge"], "metric": run["metric"],
             "n_examples": result.best.estimate.n, "status": result.status, "started": started,
             "duration": _duration(result.duration_s), "splits": result.splits},
        original={"id": result.original.id, "score": result.original.estimate.fmt(),
                  "dev": result.original.dev.fmt() if result.original.dev else ""},
        best={"id": result.best.id, "score": result.best.estimate.fmt(),
              "dev": result.best.dev.fmt() if result.best.dev else "",
              "messages": result.best.candidate.to_json(),
              "demos": result.best.candidate.demos.describe() if result.best.candidate.demos else "",
              "answer_prefix": result.best.candidate.answer_prefix or ""},
        search_best={"id": result.search_best.id,
                     "score": result.search_best.estimate.fmt()} if result.search_best else None,
        comparison=None if cmp is None else {
            "diff": f"{cmp.diff:+.1%}", "ci": f"[{cmp.diff_low:+.1%}, {cmp.diff_high:+.1%}]",
            "p": f"{cmp.p_value:.3g}", "wins": cmp.b_wins, "losses": cmp.a_wins, "ties": cmp.ties},
        explanation=result.explanation,
        measured_on_heldout=result.heldout,
        diff=prompt_diff(result.original.candidate.text(), result.best.candidate.text()),
        candidates=candidates, usage=result.usage, warnings=result.warnings,
    ) + "\n"


def write_reports(result: TuneResult, store: Store, out_dir: Path,
                  templates: TemplateLibrary) -> tuple[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path = out_dir / "report.md"
    json_path = out_dir / "result.json"
    result.report_path, result.json_path = str(md_path), str(json_path)
    md_path.write_text(render_markdown(result, store, templates), encoding="utf-8")
    data: dict[str, Any] = result.to_json()
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return str(md_path), str(json_path)
