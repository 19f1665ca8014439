"""Does tuning help? Run ``tune`` on every benchmark task and compare on held-out examples.

    python bench/quality.py --target embedded --optimizer embedded
    python bench/quality.py --target embedded --optimizer embedded --tasks intent,yesno \\
        --strategies auto,fewshot --max-calls 1500 --json

For each task and strategy: the original prompt's held-out (test split) score with its 95% CI,
the tuned prompt's, their paired difference with its CI and the permutation test's p-value, and
the model calls the run sent (all roles; cache hits are free and counted apart). A row is
"significant" when the search's best beats the original on the test split at alpha 0.05 — the
test split is never seen by the search.

Two baselines a tuned prompt must beat to be worth shipping, each with the tuned prompt's paired
difference from it and its p-value: the majority label (always answering the most frequent
train answer, scored by the task's metrics without a model call; only for tasks with a finite
answer space), and a hand-written reference — the original plus the one format sentence that
names the answer words (``format_instruction``), scored on the same test examples by the same
target (its calls are counted apart, in ``ref calls``). Runs use their own store and response cache under
``--work`` (default: a fresh temporary folder), so numbers are not borrowed from earlier runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import (  # noqa: E402
    Candidate,
    PromptTunerError,
    Settings,
    Store,
    Task,
    answer_tokens,
    compare_paired,
    evaluate_prompt,
    load_run,
    load_settings,
    load_task,
    tune,
)
from core.strategies import with_format  # noqa: E402

BENCH = ROOT / "examples" / "benchmarks"


def _tasks(folder: Path, names: str | None) -> list[Path]:
    found = sorted(p.parent for p in folder.glob("*/task.yaml"))
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {p.name for p in found})
        if unknown:
            raise PromptTunerError(f"no benchmark task {', '.join(unknown)} in {folder}",
                                   f"choose from: {', '.join(p.name for p in found)}")
        found = [p for p in found if p.name in wanted]
    return found


async def one(task_dir: Path, strategy: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    task = load_task(task_dir / "task.yaml")
    flags: dict[str, Any] = {
        "models.target": args.target, "models.optimizer": args.optimizer,
        "models.judge": args.judge or args.target, "budget.max_calls": args.max_calls,
        "tune.strategy": strategy, "tune.seed": args.seed, "store_path": str(work / "store.db"),
        "run_dir": str(work / "runs"), "cache.path": str(work / "cache.db"),
    }
    if args.rounds:
        flags["tune.rounds"] = args.rounds
    if args.max_answer_tokens:  # a rambling 135M model spends most of its time on long answers
        flags["tune.answer_max_tokens"] = min(answer_tokens(task), args.max_answer_tokens)
        flags["tune.proposal_max_tokens"] = 128
    settings = load_settings(flags=flags).settings
    started = time.monotonic()
    result = await tune(task, settings)
    cmp = result.comparison
    orig = result.candidates[0]
    best = result.search_best or result.best
    tuned_scores = _test_scores(work, result.run_id, best.candidate.id)
    return {
        **_majority(work, result.run_id),
        **(await _reference(task, settings, tuned_scores) if result.heldout else _NO_REF),
        "task": task_dir.name, "strategy": strategy, "run_id": result.run_id,
        "heldout": result.heldout, "n_test": result.splits.get("test", 0),
        "original": _est(orig.test or orig.estimate),
        "tuned": _est(best.test or best.estimate),
        "diff": cmp.diff if cmp else 0.0, "diff_low": cmp.diff_low if cmp else 0.0,
        "diff_high": cmp.diff_high if cmp else 0.0, "p": cmp.p_value if cmp else 1.0,
        "significant": bool(cmp and cmp.significant and cmp.diff > 0),
        "returned": "tuned" if result.improved else "original",
        "tuned_made_by": f"{best.candidate.strategy}/{best.candidate.operator}",
        "calls": result.calls, "cache_hits": result.cache_hits,
        "seconds": round(time.monotonic() - started, 1), "status": result.status,
    }


_NO_REF: dict[str, Any] = {"reference": None, "reference_prompt": None, "vs_reference": None,
                           "reference_calls": 0}


def _test_scores(work: Path, run_id: str, candidate_id: str) -> dict[int, float]:
    """A candidate's stored held-out scores, by test example."""
    store = Store(work / "store.db")
    try:
        return {int(r["example_index"]): float(r["score"] or 0.0)
                for r in store.evaluations(run_id, candidate_id, split="test")}
    finally:
        store.close()


def _versus(diff: float, low: float, high: float, p: float, significant: bool) -> dict[str, Any]:
    return {"diff": diff, "diff_low": low, "diff_high": high, "p": p,
            "significant": bool(significant and diff > 0)}


def _majority(work: Path, run_id: str) -> dict[str, Any]:
    """Always answering the most frequent train label, and the tuned prompt against it (the run's
    stored baselines: no model call)."""
    store = Store(work / "store.db")
    try:
        b = load_run(store, run_id).baselines
    finally:
        store.close()
    if b is None:
        return {"majority": None, "majority_label": None, "vs_majority": None}
    c = b.comparison
    return {"majority": _est(b.majority), "majority_label": b.majority_label,
            "vs_majority": None if c is None else _versus(c.diff, c.diff_low, c.diff_high,
                                                          c.p_value, c.significant)}


async def _reference(task: Task, settings: Settings, tuned: dict[int, float]) -> dict[str, Any]:
    """The original plus the sentence naming the answer words, on the test split, paired with the
    tuned prompt's held-out scores."""
    original = Candidate(task.messages)
    made = with_format(original, task, strategy="reference", generation=1)
    prompt = (made or original).messages
    report = await evaluate_prompt(task, settings, prompt=prompt, split="test")
    shared = [i for i in range(len(report.scores)) if i in tuned]
    vs = None
    if shared:
        c = compare_paired([report.scores[i] for i in shared], [tuned[i] for i in shared])
        vs = _versus(c.diff, c.diff_low, c.diff_high, c.p_value, c.significant)
    return {"reference": _est(report.aggregate),
            "reference_prompt": prompt[-1].content if made else None,
            "vs_reference": vs, "reference_calls": int(report.usage.get("calls", 0))}


def _est(e: Any) -> dict[str, Any]:
    return {"mean": e.mean, "low": e.low, "high": e.high, "n": e.n}


def _pct(e: dict[str, Any]) -> str:
    return f"{e['mean']:.0%} [{e['low']:.0%}, {e['high']:.0%}]"


def _vs(v: dict[str, Any] | None) -> str:
    """A difference from a baseline with its p-value; * when significant."""
    if v is None:
        return "—"
    return f"{v['diff']:+.0%} p={v['p']:.2g}{'*' if v['significant'] else ''}"


def table(rows: list[dict[str, Any]]) -> str:
    head = ["task", "strategy", "n", "original (test)", "tuned (test)", "difference [95% CI]", "p",
            "sig", "majority", "tuned-majority", "reference", "tuned-reference", "made by",
            "calls", "ref calls", "secs"]
    body = [[r["task"], r["strategy"], str(r["n_test"]), _pct(r["original"]), _pct(r["tuned"]),
             f"{r['diff']:+.0%} [{r['diff_low']:+.0%}, {r['diff_high']:+.0%}]", f"{r['p']:.3g}",
             "yes" if r["significant"] else "no",
             f"{r['majority']['mean']:.0%} {r['majority_label']}" if r.get("majority") else "—",
             _vs(r.get("vs_majority")),
             f"{r['reference']['mean']:.0%}" if r.get("reference") else "—",
             _vs(r.get("vs_reference")), r["tuned_made_by"], str(r["calls"]),
             str(r.get("reference_calls", 0)), f"{r['seconds']:.0f}"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    sig = sum(r["significant"] for r in rows)
    tasks = len({r["task"] for r in rows})
    lines.append(f"significantly better on held-out examples: {sig} of {len(rows)} runs "
                 f"({tasks} tasks); calls per run at most {max(r['calls'] for r in rows)}")
    above = [r for r in rows if r.get("vs_majority") is not None and r.get("vs_reference") is not None]
    both = sum(bool(r["vs_majority"]["significant"] and r["vs_reference"]["significant"])
               for r in above)
    lines.append(f"significantly above both the majority label and the reference: {both} of "
                 f"{len(above)} runs with both baselines (* p<0.05)")
    for r in rows:
        if r.get("reference_prompt"):
            lines.append(f"reference for {r['task']}: {' / '.join(r['reference_prompt'].splitlines())}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pt-quality-"))
    rows = []
    for task_dir in _tasks(Path(args.bench), args.tasks):
        for strategy in args.strategies.split(","):
            row = await one(task_dir, strategy.strip(), args, work)
            rows.append(row)
            print(f"  {row['task']} / {row['strategy']}: {_pct(row['original'])} -> "
                  f"{_pct(row['tuned'])} p={row['p']:.3g} ({row['calls']} calls, "
                  f"{row['seconds']:.0f}s)", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Tune every benchmark task; compare on held-out data.")
    p.add_argument("--target", default="embedded")
    p.add_argument("--optimizer", default="embedded")
    p.add_argument("--judge", default=None, help="default: the target")
    p.add_argument("--tasks", help="comma-separated task folders (default: all)")
    p.add_argument("--strategies", default="auto", help="comma-separated (default: auto)")
    p.add_argument("--max-calls", type=int, default=1500, help="budget per run (default 1500)")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-answer-tokens", type=int, default=None,
                   help="cap the target's answer length (chain of thought keeps its own room)")
    p.add_argument("--bench", default=str(BENCH), help="the benchmark folder")
    p.add_argument("--work", help="folder for the runs' store and cache (default: a new temp dir)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        rows = asyncio.run(main_async(args))
    except PromptTunerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
