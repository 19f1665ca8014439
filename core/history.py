"""A stored run read back whole, for the things people look at afterwards: reports (Markdown, HTML,
JSON, CSV), ``show``, ``runs``, ``export`` and ``versions``.

Everything here is read from the store, so it works for any run, finished or not, long after
the process that ran it has gone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .baselines import Baselines, compute_baselines
from .errors import PromptTunerError
from .lineage import Node, candidate_text, extras_of, lineage, messages_of, parents_of, walk
from .metrics.stats import Estimate, estimate
from .models.base import estimate_tokens
from .store import Store


@dataclass(frozen=True)
class CandidateView:
    id: str
    text: str                      # the whole prompt (demonstrations described at the end)
    messages: list[dict[str, str]]
    parents: list[str]
    strategy: str
    operator: str
    generation: int
    round: int | None              # the round that proposed it (0: the original)
    status: str                    # proposed | racing | evaluated | pruned | dropped | partial
                                   # | rejected (unfaithful to the task: never scored)
    dev: Estimate | None
    test: Estimate | None
    prompt_tokens: float           # mean prompt tokens the target read per answer (demos incl.)
    tokens_measured: bool          # False: estimated from the text (no stored response)
    note: str
    extras: dict[str, Any]
    is_original: bool
    is_best: bool                  # the prompt the run returned

    @property
    def score(self) -> float | None:
        return self.dev.mean if self.dev is not None else None


@dataclass(frozen=True)
class RoundView:
    round: int
    best_id: str
    best: Estimate
    candidates: int
    calls: int
    cache_hits: int
    tokens: int
    cost: float
    elapsed_s: float
    decision: dict[str, Any] | None


@dataclass(frozen=True)
class ExampleChange:
    """One example scored for both the original and the winner."""

    index: int
    split: str
    inputs: dict[str, Any]
    expected: str | None
    original_answer: str
    original_score: float
    best_answer: str
    best_score: float

    @property
    def delta(self) -> float:
        return self.best_score - self.original_score


@dataclass(frozen=True)
class MetricBreakdown:
    name: str
    original: Estimate
    best: Estimate


@dataclass
class RunView:
    run: dict[str, Any]
    task: dict[str, Any]
    result: dict[str, Any] | None          # None while (or when) the run did not finish
    candidates: list[CandidateView]
    rounds: list[RoundView]
    usage: dict[str, dict[str, Any]]       # per model spec
    totals: dict[str, Any]                 # calls, cache hits, tokens, cost, seconds
    lineage: list[Node] = field(default_factory=list)
    # chance and majority-label baselines of a label task (None: open answers, or not scored)
    baselines: Baselines | None = None

    # -- identity ---------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.run["id"])

    @property
    def status(self) -> str:
        return str(self.run.get("status") or "")

    @property
    def started(self) -> str:
        return _when(self.run.get("created_at"))

    @property
    def duration_s(self) -> float | None:
        if self.result is not None:
            return float(self.result.get("duration_s") or 0.0)
        start, end = self.run.get("created_at"), self.run.get("finished_at")
        return float(end - start) if start and end else None

    @property
    def heldout(self) -> bool:
        return bool(self.result and self.result.get("heldout"))

    @property
    def original(self) -> CandidateView | None:
        return next((c for c in self.candidates if c.is_original), None)

    @property
    def best(self) -> CandidateView | None:
        return next((c for c in self.candidates if c.is_best), None)

    @property
    def search_best(self) -> CandidateView | None:
        sid = (self.result or {}).get("search_best_id")
        return self.candidate(sid) if sid else self.best

    def candidate(self, cid: str) -> CandidateView | None:
        return next((c for c in self.candidates if c.id == cid), None)

    def headline(self, c: CandidateView) -> Estimate | None:
        """The number a candidate is judged by: held-out when it has one, dev otherwise."""
        return c.test if c.test is not None else c.dev

    def ranked(self) -> list[CandidateView]:
        """Scored candidates, best dev score first (the original wins ties); then the rest."""
        scored = [c for c in self.candidates if c.dev is not None and c.dev.n]
        rest = [c for c in self.candidates if c not in scored]
        scored.sort(key=lambda c: (c.status in ("pruned", "dropped", "partial"),
                                   -(c.dev.mean if c.dev else 0.0), not c.is_original,
                                   len(c.text), c.id))
        return scored + rest

    def pareto(self) -> set[str]:
        """Candidates no other beats on both dev score and prompt length (tokens)."""
        pts = [c for c in self.candidates if c.dev is not None and c.dev.n
               and c.status not in ("partial",)]
        front = set()
        for c in pts:
            assert c.dev is not None
            if not any(o.dev is not None and o is not c and o.dev.mean >= c.dev.mean
                       and o.prompt_tokens <= c.prompt_tokens
                       and (o.dev.mean > c.dev.mean or o.prompt_tokens < c.prompt_tokens)
                       for o in pts):
                front.add(c.id)
        return front

    def rejected(self) -> list[tuple[str, int]]:
        """Proposals rejected before any target call (status ``rejected``, note ``rejected:
        <reason>``), grouped by reason, most frequent first."""
        reasons: dict[str, int] = {}
        for c in self.candidates:
            if c.status == "rejected":
                note = c.note.strip()
                if note.lower().startswith("rejected:"):
                    note = note.split(":", 1)[1].strip()
                reason = note or "no reason given"
                reasons[reason] = reasons.get(reason, 0) + 1
        return sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))

    def judged(self) -> CandidateView | None:
        """The prompt the reports put beside the original: the returned one; the search's best
        when the run kept the original; the best so far while a run has no result."""
        if self.result is None:
            return best_so_far(self)
        for c in (self.best, self.search_best):
            if c is not None and not c.is_original:
                return c
        return self.best

    # -- what the winner changed --------------------------------------------------------------
    def comparison_split(self) -> str:
        return "test" if self.heldout else "dev"

    def changes(self, store: Store) -> list[ExampleChange]:
        """The examples the original and the returned prompt (or the search's best, when the run
        kept the original) both answered, on the split the result was judged on."""
        orig, best = self.original, self.search_best
        if orig is None or best is None or orig.id == best.id:
            return []
        split = self.comparison_split()
        a = {r["example_index"]: r for r in store.evaluations(self.id, orig.id, split=split)}
        b = {r["example_index"]: r for r in store.evaluations(self.id, best.id, split=split)}
        out = []
        for i in sorted(a.keys() & b.keys()):
            ra, rb = a[i], b[i]
            out.append(ExampleChange(i, split, json.loads(ra["inputs_json"] or "{}"),
                                     ra["expected"], ra["answer"] or "", float(ra["score"] or 0),
                                     rb["answer"] or "", float(rb["score"] or 0)))
        return out

    def fixed_and_broken(self, store: Store) -> tuple[list[ExampleChange], list[ExampleChange]]:
        changes = self.changes(store)
        fixed = sorted((c for c in changes if c.delta > 0), key=lambda c: -c.delta)
        broken = sorted((c for c in changes if c.delta < 0), key=lambda c: c.delta)
        return fixed, broken

    def metric_breakdown(self, store: Store) -> list[MetricBreakdown]:
        """Per metric (and judge dimension), the original against the search's best on the split
        the result was judged on."""
        orig, best = self.original, self.search_best
        if orig is None or best is None:
            return []
        split = self.comparison_split()
        seed = int((self.task.get("seed") or 0) if isinstance(self.task, dict) else 0)

        def parts(cid: str) -> dict[int, dict[str, float]]:
            return {r["example_index"]: json.loads(r["parts_json"] or "{}") or
                    {"score": float(r["score"] or 0)}
                    for r in store.evaluations(self.id, cid, split=split)}

        pa, pb = parts(orig.id), parts(best.id)
        shared = sorted(pa.keys() & pb.keys())
        names: list[str] = []
        for i in shared:
            for name in [*pa[i], *pb[i]]:
                if name not in names:
                    names.append(name)
        out = []
        for name in names:
            xs = [float(pa[i][name]) for i in shared if name in pa[i] and name in pb[i]]
            ys = [float(pb[i][name]) for i in shared if name in pa[i] and name in pb[i]]
            if xs:
                out.append(MetricBreakdown(name, estimate(xs, seed=seed), estimate(ys, seed=seed)))
        return out

    def lineage_rows(self) -> Iterator[tuple[int, Node]]:
        yield from walk(self.lineage)


def _when(ts: Any) -> str:
    if not ts:
        return ""
    return dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M")


def _est(mean: Any, low: Any, high: Any, n: Any) -> Estimate | None:
    if mean is None or not n:
        return None
    return Estimate(float(mean), float(low if low is not None else mean),
                    float(high if high is not None else mean), int(n))


def _estimate_tokens(text: str) -> float:
    """The prompt's tokens estimated from its text (``core.models.base.estimate_tokens``, the
    one estimate of the core), when no stored response says better."""
    return float(max(1, estimate_tokens(text)))


def _usage_from_responses(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    """Usage per model, as a result's ``usage``, from the run's stored responses (a run that did
    not finish has no result to hold it)."""
    return {u.model: {"calls": u.calls, "cache_hits": 0, "retries": 0, "failures": 0,
                      "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                      "cost": 0.0, "latency_mean_s": round(u.latency_mean_s, 4)}
            for u in store.usage_by_model(run_id)}


def load_run(store: Store, run_id: str, *, result: dict[str, Any] | None = None) -> RunView:
    """Everything stored about one run (an id, or a unique prefix of one). ``result``: the run's
    result JSON when the run row does not hold it yet (the reports written as a run finishes,
    before the store marks it finished).

    Examples:
        A small run on the embedded model, then everything the store holds about it:

        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from core import Store, load_run, load_settings, load_task, tune
        >>> small = {"tune.max_examples": 4, "tune.auto_split_min": 1000, "tune.rounds": 1,
        ...          "tune.variations": 1, "budget.max_calls": 30}
        >>> store = Store(Path(tempfile.mkdtemp()) / "store.db")
        >>> result = asyncio.run(tune(load_task(Path("examples/sentiment.tune.yaml")),
        ...                           load_settings(flags=small).settings, store=store))
        >>> view = load_run(store, result.run_id[:12])
        >>> view.id == result.run_id, view.status, view.task["name"]
        (True, 'finished', 'movie-sentiment')
        >>> view.original.is_original, view.best.id == result.best.id, [r.round for r in view.rounds]
        (True, True, [0, 1])
        >>> view.totals["calls"] == result.calls
        True
        >>> store.close()
    """
    run = store.get_run(resolve_run_id(store, run_id))
    rid = str(run["id"])
    if result is not None:
        run = {**run, "status": result.get("status") or run.get("status"),
               "best_id": result.get("best_id"), "original_id": result.get("original_id")}
    elif run.get("result_json"):
        result = json.loads(run["result_json"])
    task = json.loads(run["task_json"]) if run.get("task_json") else {}
    by_result = {c["id"]: c for c in (result or {}).get("candidates", [])}
    tokens = store.mean_prompt_tokens(rid)
    original_id = (result or {}).get("original_id") or run.get("original_id")
    best_id = (result or {}).get("best_id") or run.get("best_id")
    rows = store.candidates(rid)
    if original_id is None:
        original_id = next((r["id"] for r in rows if r["operator"] == "original"), None)
    cands = []
    for row in rows:
        cid = str(row["id"])
        res = by_result.get(cid, {})
        test = res.get("test")
        text = candidate_text(row)
        dev = _est(row.get("score"), row.get("ci_low"), row.get("ci_high"), row.get("n"))
        if dev is None and res.get("dev"):
            d = res["dev"]
            dev = _est(d["mean"], d["low"], d["high"], d["n"])
        cands.append(CandidateView(
            id=cid, text=text, messages=messages_of(row), parents=parents_of(row),
            strategy=row.get("strategy") or "", operator=row.get("operator") or "",
            generation=int(row.get("generation") or 0), round=row.get("round"),
            status=("dropped" if res.get("dropped") else row.get("status") or "proposed"),
            dev=dev, test=_est(test["mean"], test["low"], test["high"], test["n"]) if test else None,
            prompt_tokens=tokens.get(cid, _estimate_tokens(text)), tokens_measured=cid in tokens,
            note=row.get("note") or "", extras=extras_of(row), is_original=cid == original_id,
            is_best=cid == best_id))
    rounds = [RoundView(r["round"], r["best_id"], Estimate(r["score"], r["ci_low"], r["ci_high"],
                                                           r["n"]),
                        r["candidates"] or 0, r["calls"] or 0, r["cache_hits"] or 0,
                        r["tokens"] or 0, float(r["cost"] or 0.0), float(r["elapsed_s"] or 0.0),
                        json.loads(r["decision_json"]) if r.get("decision_json") else None)
              for r in store.rounds(rid)]
    usage = (result or {}).get("usage") or _usage_from_responses(store, rid)
    totals: dict[str, Any] = {
        "calls": sum(int(u.get("calls", 0)) for u in usage.values()),
        "cache_hits": sum(int(u.get("cache_hits", 0)) for u in usage.values()),
        "retries": sum(int(u.get("retries", 0)) for u in usage.values()),
        "prompt_tokens": sum(int(u.get("prompt_tokens", 0)) for u in usage.values()),
        "completion_tokens": sum(int(u.get("completion_tokens", 0)) for u in usage.values()),
        "cost": round(sum(float(u.get("cost", 0.0)) for u in usage.values()), 6),
    }
    view = RunView(run=run, task=task, result=result, candidates=cands, rounds=rounds,
                   usage=usage, totals=totals)
    totals["seconds"] = view.duration_s
    view.lineage = lineage(store, rid)
    view.baselines = _baselines(store, view)
    return view


def _baselines(store: Store, view: RunView) -> Baselines | None:
    """The run's chance and majority-label baselines, from its stored task and evaluations."""
    from pydantic import ValidationError

    from .task import Task

    try:
        task = Task.model_validate(view.task)
        settings = json.loads(view.run.get("settings_json") or "{}")
    except (ValidationError, ValueError):
        return None
    win = view.judged()
    split = view.comparison_split()
    won = store.evaluations(view.id, win.id, split=split) if win is not None else []
    orig = view.original
    rows = won or (store.evaluations(view.id, orig.id, split=split) if orig is not None else [])
    seed = int(((settings.get("tune") or {}).get("seed")) or 0)
    return compute_baselines(task, settings if isinstance(settings, dict) else {}, split, rows,
                             win.id if win is not None else None, won, seed=seed)


def resolve_run_id(store: Store, ref: str) -> str:
    """A run id, a unique prefix of one, or ``last`` (the newest run).

    Examples:
        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from core import Store, resolve_run_id, load_settings, load_task, tune
        >>> small = {"tune.max_examples": 4, "tune.auto_split_min": 1000, "tune.rounds": 1,
        ...          "tune.variations": 1, "budget.max_calls": 30}
        >>> store = Store(Path(tempfile.mkdtemp()) / "store.db")
        >>> result = asyncio.run(tune(load_task(Path("examples/sentiment.tune.yaml")),
        ...                           load_settings(flags=small).settings, store=store))
        >>> resolve_run_id(store, "last") == resolve_run_id(store, result.run_id[:10]) == result.run_id
        True
        >>> resolve_run_id(store, "nope")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.errors.PromptTunerError: no run nope in .../store.db (list runs with `prompt-tuner runs`)
        >>> store.close()
    """
    if ref == "last":
        rows = store.tuning_runs(limit=1)
        if not rows:
            raise PromptTunerError(f"no runs in {store.path}", "tune a prompt first")
        return str(rows[0]["id"])
    ids = store.run_ids_with_prefix(ref)
    if ref in ids:
        return ref
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise PromptTunerError(f"no run {ref} in {store.path}",
                               "list runs with `prompt-tuner runs`")
    raise PromptTunerError(f"run id '{ref}' is ambiguous: {', '.join(ids[:4])}"
                           + (", …" if len(ids) > 4 else ""), "give more of the id")


@dataclass(frozen=True)
class RunSummary:
    """One line of ``prompt-tuner runs``."""

    id: str
    started: str
    task: str
    target: str
    status: str
    baseline: Estimate | None
    best: Estimate | None
    improved: bool | None
    significant: bool | None
    p_value: float | None
    heldout: bool
    calls: int
    cost: float
    candidates: int

    def to_json(self) -> dict[str, Any]:
        def est(e: Estimate | None) -> dict[str, Any] | None:
            return None if e is None else e.to_json()

        return {"id": self.id, "started": self.started, "task": self.task, "target": self.target,
                "status": self.status, "baseline": est(self.baseline), "best": est(self.best),
                "improved": self.improved, "significant": self.significant,
                "p_value": self.p_value, "heldout": self.heldout, "calls": self.calls,
                "cost": self.cost, "candidates": self.candidates}


def list_runs(store: Store, *, task: str | None = None, limit: int = 50) -> list[RunSummary]:
    """Past runs, newest first (people's hand-written versions are not runs).

    Examples:
        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from core import Store, list_runs, load_settings, load_task, tune
        >>> small = {"tune.max_examples": 4, "tune.auto_split_min": 1000, "tune.rounds": 1,
        ...          "tune.variations": 1, "budget.max_calls": 30}
        >>> store = Store(Path(tempfile.mkdtemp()) / "store.db")
        >>> result = asyncio.run(tune(load_task(Path("examples/sentiment.tune.yaml")),
        ...                           load_settings(flags=small).settings, store=store))
        >>> [(run.id == result.run_id, run.task, run.status, run.heldout) for run in list_runs(store)]
        [(True, 'movie-sentiment', 'finished', False)]
        >>> run = list_runs(store)[0]
        >>> run.baseline.n, run.calls == result.calls, run.candidates >= 2
        (4, True, True)
        >>> list_runs(store, task="another-task")
        []
        >>> store.close()
    """
    out = []
    counts = store.candidate_counts()
    for run in store.tuning_runs(limit=limit, task_name=task):
        rid = str(run["id"])
        res = json.loads(run["result_json"]) if run.get("result_json") else None
        baseline = best = None
        improved = significant = None
        p = None
        calls, cost = 0, 0.0
        if res is not None:
            bci, wci = res.get("baseline_ci") or [None, None], res.get("best_ci") or [None, None]
            baseline = _est(res.get("baseline_score"), bci[0], bci[1], res.get("n"))
            best = _est(res.get("best_score"), wci[0], wci[1], res.get("n"))
            improved = bool(res.get("improved"))
            cmp = res.get("comparison") or {}
            significant = bool(cmp.get("significant")) and improved
            p = res.get("p_value")
            usage = res.get("usage") or {}
            calls = int(res.get("calls") or 0)
            cost = round(sum(float(u.get("cost", 0.0)) for u in usage.values()), 6)
        else:  # unfinished: the dev scores so far, what was paid for so far
            baseline, best = _dev_so_far(store, run)
            calls = store.response_count(rid)
            last = store.last_round(rid)
            cost = float(last["cost"] or 0.0) if last else 0.0
        out.append(RunSummary(rid, _when(run.get("created_at")), str(run.get("task_name") or ""),
                              str(run.get("target") or ""), str(run.get("status") or ""),
                              baseline, best, improved, significant, p,
                              bool(res and res.get("heldout")), calls, cost,
                              int(counts.get(rid, 0))))
    return out


def export_rows(store: Store, run_id: str) -> Iterator[dict[str, Any]]:
    """Every scored answer of a run, one flat record each (for CSV/JSONL export).

    Examples:
        >>> import asyncio, tempfile
        >>> from pathlib import Path
        >>> from core import Store, EXPORT_FIELDS, export_rows, load_settings, load_task, tune
        >>> small = {"tune.max_examples": 4, "tune.auto_split_min": 1000, "tune.rounds": 1,
        ...          "tune.variations": 1, "budget.max_calls": 30}
        >>> store = Store(Path(tempfile.mkdtemp()) / "store.db")
        >>> result = asyncio.run(tune(load_task(Path("examples/sentiment.tune.yaml")),
        ...                           load_settings(flags=small).settings, store=store))
        >>> rows = list(export_rows(store, result.run_id))
        >>> tuple(rows[0]) == EXPORT_FIELDS
        True
        >>> originals = [r for r in rows if r["candidate_id"] == result.original.id]
        >>> sorted(r["example_index"] for r in originals), {r["split"] for r in originals}
        ([0, 1, 2, 3], {'dev'})
        >>> store.close()
    """
    rid = resolve_run_id(store, run_id)
    cands = {str(r["id"]): r for r in store.candidates(rid)}
    responses = {str(r["key"]): r for r in store.responses(rid)}
    for e in store.evaluations(rid):
        cand = cands.get(str(e["candidate_id"]), {})
        resp = responses.get(str(e["response_key"] or ""), {})
        inputs = json.loads(e["inputs_json"] or "{}")
        yield {
            "run_id": rid, "candidate_id": e["candidate_id"],
            "strategy": cand.get("strategy"), "operator": cand.get("operator"),
            "round": cand.get("round"), "split": e.get("split") or "dev",
            "example_index": e["example_index"],
            "inputs": json.dumps(inputs, ensure_ascii=False),
            "expected": e["expected"], "answer": e["answer"], "score": e["score"],
            "outcome": e.get("outcome") or "", "reason": e["reason"],
            "parts": e.get("parts_json") or "{}", "model": resp.get("model"),
            "prompt_tokens": resp.get("prompt_tokens"),
            "completion_tokens": resp.get("completion_tokens"),
            "latency_s": resp.get("latency_s"), "finish_reason": resp.get("finish_reason"),
            "cached": not resp, "response_key": e["response_key"],
        }


EXPORT_FIELDS = ("run_id", "candidate_id", "strategy", "operator", "round", "split",
                 "example_index", "inputs", "expected", "answer", "score", "outcome", "reason",
                 "parts", "model", "prompt_tokens", "completion_tokens", "latency_s",
                 "finish_reason", "cached", "response_key")


@dataclass(frozen=True)
class VersionView:
    """One distinct prompt of a task, across all its runs."""

    version: int
    id: str
    first_seen: str
    runs: int
    best_score: float | None      # ``score.mean``: see ``score``
    parents: list[str]
    parent_version: int | None
    operator: str
    text: str
    returned_by: list[str]        # runs that returned it as their result
    approvals: int
    rejections: int
    latest_verdict: str | None
    # its score, the one every front shows (``Store.versions``): of its measurements across the
    # task's runs, the one on the most examples, the newest among equals; with where and when
    score: Estimate | None = None
    scored_in: str | None = None
    scored_at: float | None = None


def task_versions(store: Store, task_name: str) -> list[VersionView]:
    """Every distinct prompt of a task across its runs (and the versions people wrote), oldest
    first, numbered; a ``PromptTunerError`` naming the known tasks when there is none.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import Candidate, Message, Store, task_versions
        >>> store = Store(Path(tempfile.mkdtemp()) / "store.db")
        >>> first = Candidate((Message("user", "Review: {{ review }}"),))
        >>> second = first.with_main("Positive or negative? {{ review }}", parents=(first.id,))
        >>> for version in (first, second):
        ...     store.save_version("movie-sentiment", messages=version.to_json(), author="ann",
        ...                        candidate_id=version.id, parents=list(version.parents))
        >>> [(v.version, v.parent_version, v.text) for v in task_versions(store, "movie-sentiment")]
        [(1, None, 'Review: {{ review }}'), (2, 1, 'Positive or negative? {{ review }}')]
        >>> task_versions(store, "poems")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.errors.PromptTunerError: no versions of task 'poems' in ... (known tasks: movie-sentiment)
        >>> store.close()
    """
    rows = store.versions(task_name)
    if not rows:
        raise PromptTunerError(f"no versions of task '{task_name}' in {store.path}",
                               "known tasks: " + (", ".join(store.task_names()) or "none yet"))
    numbers = {r["id"]: r["version"] for r in rows}
    returned: dict[str, list[str]] = {}
    for run in store.runs(limit=10_000, task_name=task_name):
        if run.get("best_id") and run.get("status") in ("finished", "budget_exhausted"):
            returned.setdefault(str(run["best_id"]), []).append(str(run["id"]))
    out = []
    for r in rows:
        parents = json.loads(r["parents_json"] or "[]")
        fake_row = {"messages_json": r["messages_json"], "extras_json": None}
        out.append(VersionView(
            version=r["version"], id=r["id"], first_seen=_when(r["first_seen"]), runs=r["runs"],
            best_score=r["best_score"], parents=parents,
            parent_version=numbers.get(parents[0]) if parents else None,
            operator=r["operator"] or "", text=candidate_text(fake_row),
            returned_by=returned.get(r["id"], []), approvals=r["approvals"],
            rejections=r["rejections"], latest_verdict=r["latest_verdict"],
            score=_est(r["best_score"], r["score_low"], r["score_high"], r["score_n"]),
            scored_in=r["scored_in"], scored_at=r["scored_at"]))
    return out


def _fully_scored_first(rows: list[dict[str, Any]], original: str | None) -> list[dict[str, Any]]:
    """Candidate rows with a dev score: those scored on every dev example (``evaluated``) first,
    then by score, the original winning ties."""
    scored = [r for r in rows if r.get("n") and r.get("score") is not None
              and r.get("status") not in ("pruned", "dropped", "partial")]
    return sorted(scored, key=lambda r: (r.get("status") != "evaluated", -float(r["score"]),
                                         r["id"] != original))


def _dev_so_far(store: Store, run: dict[str, Any]) -> tuple[Estimate | None, Estimate | None]:
    """An unfinished run's original and best so far, on the dev examples."""
    rows = store.candidates(str(run["id"]))
    original = run.get("original_id") or next(
        (r["id"] for r in rows if r.get("operator") == "original"), None)

    def est(row: dict[str, Any]) -> Estimate | None:
        return _est(row.get("score"), row.get("ci_low"), row.get("ci_high"), row.get("n"))

    orig = next((est(r) for r in rows if r["id"] == original), None)
    ranked = _fully_scored_first(rows, original)
    return orig, (est(ranked[0]) if ranked else None)


def best_so_far(view: RunView) -> CandidateView | None:
    """The best candidate of a run that has no result (yet): the best one scored on every dev
    example, so that a candidate still racing on a few lucky examples does not count; else the
    best of what was scored."""
    fully = [c for c in view.candidates if c.status == "evaluated" and c.dev is not None
             and c.dev.n]
    if fully:
        return sorted(fully, key=lambda c: (-(c.dev.mean if c.dev else 0.0), not c.is_original,
                                            len(c.text), c.id))[0]
    ranked = [c for c in view.ranked() if c.dev is not None]
    return ranked[0] if ranked else None
