"""Does tuning help? Run ``tune`` on every benchmark task and compare on held-out examples.

    python bench/quality.py --target embedded --optimizer embedded
    python bench/quality.py --target embedded --optimizer embedded --tasks intent,yesno \\
        --strategies auto,fewshot --max-calls 1500 --json
    python bench/quality.py --data ../shared/datasets --public sst2,trec --tasks none --max-calls 600

``--data DIR`` adds public labelled datasets as tasks of their own (``bench/public.py``: sst2,
trec, ag_news, sms_spam, boolq; ``--public`` picks some, ``--tasks none`` skips the bundled ones).
Label answers are scored strictly by default (``exact``: one word, case and punctuation folded);
``--task-metrics`` keeps each bundled task's own, more lenient ``label`` metric.

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

What the tuner learns across runs (issue 14) is measured in two passes: the first ``--cold`` on a
shared ``--store``, the second on the same store with a fresh ``--cache`` (so no answer is
borrowed, only what the runs taught), and ``bench/passes.py`` prints them side by side.
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

from bench.public import TASKS as PUBLIC_TASKS  # noqa: E402
from bench.public import public_task  # noqa: E402
from bench.suite import SuiteError  # noqa: E402
from core import (  # noqa: E402
    Candidate,
    MetricSpec,
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
    if names == "none":
        return []
    if names:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {p.name for p in found})
        if unknown:
            raise PromptTunerError(f"no benchmark task {', '.join(unknown)} in {folder}",
                                   f"choose from: {', '.join(p.name for p in found)}")
        found = [p for p in found if p.name in wanted]
    return found


def strict(task: Task) -> Task:
    """The task with its ``label`` metrics replaced by ``exact`` (one word, case and punctuation
    folded): the answer must be the label, not a sentence that contains it."""
    specs = task.metric_specs()
    if not any(s.type == "label" for s in specs):
        return task
    swapped = tuple(MetricSpec(type="exact", weight=s.weight) if s.type == "label" else s
                    for s in specs)
    # the label metric's labels stay the task's answer space, in their order
    return task.model_copy(update={"metrics": swapped, "metric": "auto",
                                   "labels": task.labels or task.label_set()})


def load_tasks(args: argparse.Namespace, work: Path) -> list[tuple[str, Task]]:
    out = []
    for task_dir in _tasks(Path(args.bench), args.tasks):
        task = load_task(task_dir / "task.yaml")
        out.append((task_dir.name, task if args.task_metrics else strict(task)))
    if args.data:
        names = [n.strip() for n in (args.public or ",".join(PUBLIC_TASKS)).split(",") if n.strip()]
        for name in names:
            out.append((name, public_task(Path(args.data), name, work, test_n=args.public_test)))
    return out


def _instruction_alone(result: Any) -> dict[str, Any] | None:
    """The winner's instruction without its demonstrations, as scored on dev (by the run's
    attribution, or earlier when the search had measured that prompt already); None when the
    winner has no demonstrations. A returned "original instruction with the winner's demos"
    stands for the winner it was taken from."""
    by_id = {c.id: c for c in result.candidates}
    winner = (result.search_best or result.best).candidate
    if winner.strategy == "attribution" and winner.parents and winner.parents[0] in by_id:
        winner = by_id[winner.parents[0]].candidate
    if winner.demos is None:
        return None
    alone = by_id.get(Candidate(winner.messages, answer_prefix=winner.answer_prefix).id)
    return _est(alone.dev or alone.estimate) if alone is not None else None


async def one(name: str, task: Task, strategy: str, args: argparse.Namespace,
              work: Path) -> dict[str, Any]:
    flags: dict[str, Any] = {
        "models.target": args.target, "models.optimizer": args.optimizer,
        "models.judge": args.judge or args.target, "budget.max_calls": args.max_calls,
        "tune.strategy": strategy, "tune.seed": args.seed, "store_path": str(store_path(args, work)),
        "run_dir": str(work / "runs"), "cache.path": str(Path(args.cache) if args.cache
                                                          else work / "cache.db"),
    }
    if args.cold:  # nothing learned from the store's earlier runs
        flags.update({"tune.warm_start": False, "tune.predictor": False,
                      "cache.history": False})
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
    tuned_scores = _test_scores(store_path(args, work), result.run_id, best.candidate.id)
    return {
        **_majority(store_path(args, work), result.run_id),
        **(await _reference(task, settings, tuned_scores) if result.heldout else _NO_REF),
        "task": name, "strategy": strategy, "run_id": result.run_id,
        "heldout": result.heldout, "n_test": result.splits.get("test", 0),
        "original": _est(orig.test or orig.estimate),
        "tuned": _est(best.test or best.estimate),
        "diff": cmp.diff if cmp else 0.0, "diff_low": cmp.diff_low if cmp else 0.0,
        "diff_high": cmp.diff_high if cmp else 0.0, "p": cmp.p_value if cmp else 1.0,
        "significant": bool(cmp and cmp.significant and cmp.diff > 0),
        "returned": "tuned" if result.improved else "original",
        "tuned_made_by": f"{best.candidate.strategy}/{best.candidate.operator}",
        "instruction": best.candidate.text(), "demos": best.candidate.demos.k if best.candidate.demos else 0,
        "instruction_alone_dev": _instruction_alone(result), "attribution": result.attribution,
        "calls": result.calls, "cache_hits": result.cache_hits,
        "history_hits": sum(int(u.get("history_hits", 0)) for u in result.usage.values()),
        "tuned_test_scores": {str(k): v for k, v in sorted(tuned_scores.items())},
        "warm_seeds": sum(c.candidate.strategy == "warm" for c in result.candidates),
        "skipped": _skipped(store_path(args, work), result.run_id),
        "seconds": round(time.monotonic() - started, 1), "status": result.status,
    }


_NO_REF: dict[str, Any] = {"reference": None, "reference_prompt": None, "vs_reference": None,
                           "reference_calls": 0}


def store_path(args: argparse.Namespace, work: Path) -> Path:
    return Path(args.store) if args.store else work / "store.db"


def _test_scores(path: Path, run_id: str, candidate_id: str) -> dict[int, float]:
    """A candidate's stored held-out scores, by test example."""
    store = Store(path)
    try:
        return {int(r["example_index"]): float(r["score"] or 0.0)
                for r in store.evaluations(run_id, candidate_id, split="test")}
    finally:
        store.close()


def _skipped(path: Path, run_id: str) -> dict[str, int]:
    """The proposals the run did not pay for, by why (rejected before any target call)."""
    store = Store(path)
    try:
        out: dict[str, int] = {}
        for c in store.candidates(run_id):
            if c["status"] == "rejected":
                why = (c["note"] or "").removeprefix("rejected: ")
                key = ("predicted loser" if why.startswith("predicted") else
                       "measured before" if why.startswith("measured in run") else
                       "near-duplicate" if why.startswith("near-duplicate") else "unfaithful")
                out[key] = out.get(key, 0) + 1
        return out
    finally:
        store.close()


def _versus(diff: float, low: float, high: float, p: float, significant: bool) -> dict[str, Any]:
    return {"diff": diff, "diff_low": low, "diff_high": high, "p": p,
            "significant": bool(significant and diff > 0)}


def _majority(path: Path, run_id: str) -> dict[str, Any]:
    """Always answering the most frequent train label, and the tuned prompt against it (the run's
    stored baselines: no model call)."""
    store = Store(path)
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
            "sig", "majority", "tuned-majority", "reference", "tuned-reference", "instr. alone (dev)",
            "demos", "made by",
            "calls", "ref calls", "secs"]
    body = [[r["task"], r["strategy"], str(r["n_test"]), _pct(r["original"]), _pct(r["tuned"]),
             f"{r['diff']:+.0%} [{r['diff_low']:+.0%}, {r['diff_high']:+.0%}]", f"{r['p']:.3g}",
             "yes" if r["significant"] else "no",
             f"{r['majority']['mean']:.0%} {r['majority_label']}" if r.get("majority") else "—",
             _vs(r.get("vs_majority")),
             f"{r['reference']['mean']:.0%}" if r.get("reference") else "—",
             _vs(r.get("vs_reference")),
             _pct(r["instruction_alone_dev"]) if r.get("instruction_alone_dev") else "—",
             str(r.get("demos", 0)), r["tuned_made_by"], str(r["calls"]),
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
        text = " / ".join(line for line in r.get("instruction", "").splitlines() if line.strip())
        lines.append(f"winner for {r['task']} ({r.get('demos', 0)} demos): {text}")
        if r.get("attribution"):
            lines.append(f"  {r['attribution']}")
    for r in rows:
        if r.get("reference_prompt"):
            lines.append(f"reference for {r['task']}: {' / '.join(r['reference_prompt'].splitlines())}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="pt-quality-"))
    rows = []
    for name, task in load_tasks(args, work):
        for strategy in args.strategies.split(","):
            row = await one(name, task, strategy.strip(), args, work)
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
    p.add_argument("--store", help="the runs' store (default: WORK/store.db); give one that holds "
                   "earlier runs to measure what the tuner learned from them")
    p.add_argument("--cache", help="the response cache (default: WORK/cache.db)")
    p.add_argument("--cold", action="store_true",
                   help="learn nothing from the store's earlier runs (no warm start, no "
                   "predictor, none of their answers reused)")
    p.add_argument("--data", help="folder of public datasets (e.g. ../shared/datasets): adds them as tasks")
    p.add_argument("--public", help=f"comma-separated public tasks (default with --data: "
                   f"{','.join(PUBLIC_TASKS)})")
    p.add_argument("--public-test", type=int, default=100,
                   help="held-out examples sampled from a public test set (default 100)")
    p.add_argument("--task-metrics", action="store_true",
                   help="score label tasks with their own metric instead of strict exact match")
    p.add_argument("--json", action="store_true")
    p.add_argument("--from-json", nargs="+", metavar="FILE",
                   help="print the table of earlier --json outputs (e.g. tasks run in parallel)")
    args = p.parse_args(argv)
    if args.from_json:
        try:
            rows = [r for f in args.from_json for r in json.loads(Path(f).read_text("utf-8"))]
        except (OSError, ValueError) as exc:
            print(f"error: --from-json: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(rows, indent=2) if args.json else table(rows))
        return 0
    try:
        rows = asyncio.run(main_async(args))
    except (PromptTunerError, SuiteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
