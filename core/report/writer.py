"""Write a finished run as ``report.md``, ``report.html`` and ``result.json`` in its run folder.

The reports are rendered from the store, the same way ``prompt-tuner report`` renders any past
run; they are written just before the store marks the run finished, so the view is given the
result to show.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..history import RunView, load_run
from .facts import rejected_facts
from .html import render_html
from .markdown import prompt_diff, render_markdown_view

if TYPE_CHECKING:
    from ..result import TuneResult
    from ..store import Store
    from ..templates import TemplateLibrary

log = logging.getLogger(__name__)

__all__ = ["prompt_diff", "write_reports"]


def _view(result: TuneResult, store: Store) -> RunView:
    return load_run(store, result.run_id, result=result.to_json())


def write_reports(result: TuneResult, store: Store, out_dir: Path,
                  templates: TemplateLibrary) -> tuple[str, str]:
    """Write the three files; returns the paths of the Markdown report and the result JSON. A
    report that fails to render is logged and left out: the run itself still finishes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    json_path = out_dir / "result.json"
    result.report_path, result.json_path = str(md_path), str(json_path)
    data: dict[str, Any] = result.to_json()
    try:
        view = _view(result, store)
        data["baselines"] = view.baselines.to_json() if view.baselines else None
        data["rejected"] = rejected_facts(view)
        md_path.write_text(render_markdown_view(view, templates), encoding="utf-8")
        html_path.write_text(render_html(view, store, templates), encoding="utf-8")
    except Exception:  # a report is a view of the store; never lose the run over one
        log.exception("could not write the reports of run %s", result.run_id)
        if not md_path.is_file():
            result.report_path = ""
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result.report_path, str(json_path)
