"""The pages of ``prompt-tuner view``: a path in, an HTML page out, read from the store.

Routes (every name and id in a path is percent-encoded)::

    /                                   the tasks and the latest runs
    /tasks/<task>                       a task: its prompt versions, runs and reviews
    /tasks/<task>/versions/<n>          one version: its text, a word diff against its parent
                                        (``?against=<m>``: another version), its reviews
    /runs/<run id>                      one run: what it found, its candidates by version
    /runs/<run id>/report               the run's HTML report (``core.report.html``)

Pages are rendered by ``templates/view/*.html.j2`` (escaped: prompts, answers and reviewers'
names are untrusted). A path that names nothing raises :class:`NotFound`. No page writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .errors import PromptTunerError
from .history import (
    CandidateView,
    RunView,
    VersionView,
    list_runs,
    load_run,
    resolve_run_id,
    task_versions,
)
from .lineage import word_diff
from .metrics.stats import Estimate
from .report.cost import duration, money
from .report.facts import fmt, made_by, split_name
from .report.html import render_html
from .store import MANUAL_RUN, Store
from .templates import TemplateLibrary

RECENT_RUNS = 50
_VERDICT = {"approve": "good", "reject": "bad", "edit": "info", "comment": "muted"}


class NotFound(Exception):
    """The path names no page, task, version or run; the message says which."""


def when(ts: Any) -> str:
    """A stored timestamp as local ``YYYY-MM-DD HH:MM`` (empty: none)."""
    return dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M") if ts else ""


def url(*parts: str | int) -> str:
    """``/a/b`` from path segments, each percent-encoded (a task may be called ``a/b?``)."""
    return "/" + "/".join(quote(str(p), safe="") for p in parts)


def render(store: Store, lib: TemplateLibrary, target: str) -> str:
    """The page at ``target`` (a request target: path and query)."""
    split = urlsplit(target)
    parts = [unquote(p) for p in split.path.split("/")[1:]]
    if parts and parts[-1] == "":
        parts.pop()
    query = parse_qs(split.query)
    match parts:
        case []:
            return lib.render("view/home.html.j2", **_home(store))
        case ["tasks", task]:
            return lib.render("view/task.html.j2", **_task(store, task))
        case ["tasks", task, "versions", number]:
            against = query.get("against", [""])[0] or None
            return lib.render("view/version.html.j2", **_version(store, task, number, against))
        case ["runs", run_id]:
            return lib.render("view/run.html.j2", **_run(store, _run_view(store, run_id)))
        case ["runs", run_id, "report"]:
            return render_html(_run_view(store, run_id), store, lib)
    raise NotFound(f"no page at {split.path}")


def error_page(lib: TemplateLibrary, status: int, title: str, message: str) -> str:
    """The short page of a request that gets no page: 404, 405, 421, …"""
    return lib.render("view/error.html.j2", page_title=f"{status} {title}", status=status,
                      title=title, message=message)


# -- home -----------------------------------------------------------------------------------------


def task_names(store: Store) -> list[str]:
    """Every task with a run or a version written by a person, by name."""
    return store.task_names()


def _versions(store: Store, task: str) -> list[VersionView]:
    try:
        return task_versions(store, task)
    except PromptTunerError:  # a task whose runs never stored a candidate
        return []


def _home(store: Store) -> dict[str, Any]:
    runs = list_runs(store, limit=RECENT_RUNS)
    tasks = []
    for name in task_names(store):
        versions = _versions(store, name)
        counted = store.task_runs(name)
        tasks.append({"name": name, "url": url("tasks", name), "runs": counted.count,
                      "last": when(counted.last_started), "versions": len(versions),
                      "reviews": len(store.reviews(name))})
    return {"page_title": "prompt-tuner", "store": str(store.path), "tasks": tasks,
            "runs": [_run_row(r) for r in runs], "more_runs": len(runs) >= RECENT_RUNS}


def _run_row(r: Any) -> dict[str, Any]:
    return {"id": r.id, "url": url("runs", r.id), "started": r.started, "task": r.task,
            "task_url": url("tasks", r.task) if r.task else "", "target": r.target,
            "status": r.status, "baseline": fmt(r.baseline), "best": fmt(r.best),
            "improved": r.improved, "significant": r.significant, "calls": r.calls,
            "cost": money(r.cost), "candidates": r.candidates}


# -- a task and its versions ----------------------------------------------------------------------


def _clip(text: str, width: int) -> str:
    """The prompt's start on one line, for a table."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1].rstrip() + "…"


def _version_score(v: VersionView) -> str:
    """A version's score as every front prints it (``Estimate.fmt``)."""
    return "—" if v.score is None else v.score.fmt()


def _version_row(task: str, v: VersionView) -> dict[str, Any]:
    return {"number": v.version, "id": v.id, "url": url("tasks", task, "versions", v.version),
            "parent": v.parent_version, "parent_unknown": bool(v.parents) and not v.parent_version,
            "parent_url": url("tasks", task, "versions", v.parent_version)
            if v.parent_version else "",
            "operator": v.operator, "first_seen": v.first_seen, "runs": v.runs,
            "best": _version_score(v), "approvals": v.approvals, "rejections": v.rejections,
            "verdict": v.latest_verdict or "",
            "returned_by": [{"id": r, "url": url("runs", r)} for r in v.returned_by],
            "preview": _clip(v.text, 90)}


def _reviews(store: Store, task: str, numbers: dict[str, int],
             candidate: str | None = None) -> list[dict[str, Any]]:
    out = []
    for r in store.reviews(task, candidate):
        number = numbers.get(str(r["candidate_id"]))
        out.append({"when": when(r["created_at"]), "author": str(r["reviewer"] or "?"),
                    "verdict": str(r["verdict"] or ""),
                    "verdict_class": _VERDICT.get(str(r["verdict"]), "muted"),
                    "comment": str(r["comment"] or ""), "source": str(r["source"] or ""),
                    "version": number,
                    "version_url": url("tasks", task, "versions", number) if number else "",
                    "run": str(r["run_id"] or ""),
                    "run_url": url("runs", r["run_id"]) if r["run_id"] else ""})
    return out


def _known_task(store: Store, task: str) -> list[VersionView]:
    if task not in task_names(store):
        raise NotFound(f"no task '{task}' in this store")
    return _versions(store, task)


def _task(store: Store, task: str) -> dict[str, Any]:
    versions = _known_task(store, task)
    numbers = {v.id: v.version for v in versions}
    return {"page_title": f"{task} · prompt-tuner", "task": task,
            "versions": [_version_row(task, v) for v in reversed(versions)],
            "runs": [_run_row(r) for r in list_runs(store, task=task, limit=10_000)],
            "reviews": _reviews(store, task, numbers)}


def _pick(versions: list[VersionView], ref: str | None, what: str) -> VersionView | None:
    if ref is None:
        return None
    text = ref.lower().removeprefix("v")
    if text.isdigit() and 1 <= int(text) <= len(versions):
        return versions[int(text) - 1]
    raise NotFound(f"no {what} {ref[:40]}")


def _segments(old: str, new: str) -> list[dict[str, str]]:
    return [{"op": op, "text": text} for op, text in word_diff(old, new)]


def _version(store: Store, task: str, number: str, against: str | None) -> dict[str, Any]:
    versions = _known_task(store, task)
    v = _pick(versions, number, f"version {number[:40]} of task '{task}'")
    assert v is not None
    other = _pick(versions, against, "version") or (
        versions[v.parent_version - 1] if v.parent_version else None)
    numbers = {x.id: x.version for x in versions}
    diff = None
    if other is not None and other.version != v.version:
        segments = _segments(other.text, v.text)
        diff = {"against": other.version, "segments": segments,
                "against_url": url("tasks", task, "versions", other.version),
                "changed": any(s["op"] != "equal" for s in segments),
                "is_parent": other.version == v.parent_version}
    choices = [{"number": x.version, "url": url("tasks", task, "versions", v.version)
                + f"?against={x.version}", "current": diff is not None
                and x.version == diff["against"]} for x in versions if x.version != v.version]
    return {"page_title": f"{task} v{v.version} · prompt-tuner", "task": task,
            "task_url": url("tasks", task), "version": _version_row(task, v), "text": v.text,
            "diff": diff, "choices": choices,
            "reviews": _reviews(store, task, numbers, v.id)}


# -- a run ----------------------------------------------------------------------------------------


def _run_view(store: Store, run_id: str) -> RunView:
    """The run with exactly this id (no prefixes, no people's pseudo-runs)."""
    try:
        found = resolve_run_id(store, run_id)
    except PromptTunerError:
        found = None
    if found != run_id or run_id.startswith(MANUAL_RUN):
        raise NotFound(f"no run {run_id[:80]} in this store")
    return load_run(store, run_id)


def _score(e: Estimate | None) -> str:
    return fmt(e)


def _candidate_row(view: RunView, c: CandidateView, task: str,
                   numbers: dict[str, int]) -> dict[str, Any]:
    number = numbers.get(c.id)
    return {"id": c.id, "made": made_by(c), "round": "" if c.round is None else c.round,
            "status": c.status, "dev": _score(c.dev), "test": _score(c.test),
            "tokens": f"{c.prompt_tokens:.0f}", "original": c.is_original, "best": c.is_best,
            "version": number,
            "version_url": url("tasks", task, "versions", number) if number else "",
            "preview": _clip(c.text, 90)}


def _run(store: Store, view: RunView) -> dict[str, Any]:
    task = str(view.run.get("task_name") or "")
    numbers = {v.id: v.version for v in _versions(store, task)} if task else {}
    judged = view.judged()
    original = view.original
    totals = view.totals or {}
    return {
        "page_title": f"run {view.id} · prompt-tuner", "id": view.id, "task": task,
        "task_url": url("tasks", task) if task else "", "status": view.status,
        "started": view.started, "duration": duration(view.duration_s),
        "target": str(view.run.get("target") or ""),
        "optimizer": str(view.run.get("optimizer") or ""),
        "metric": str(view.run.get("metric") or ""), "split": split_name(view),
        "original": _score(view.headline(original)) if original else "—",
        "judged": _score(view.headline(judged)) if judged else "—",
        "explanation": str((view.result or {}).get("explanation") or ""),
        "error": str(view.run.get("error") or ""),
        "calls": int(totals.get("calls") or 0), "cost": money(float(totals.get("cost") or 0.0)),
        "candidates": [_candidate_row(view, c, task, numbers) for c in view.ranked()],
        "report_url": url("runs", view.id, "report"),
    }
