"""Does tuning help? Run ``tune`` on every benchmark task and compare on held-out examples.

    python bench/quality.py --target embedded --optimizer embedded
    python bench/quality.py --target embedded --optimizer embedded --tasks intent,yesno \\
        --strategies auto,fewshot --max-calls 1500 --json

For each task and strategy: the original prompt's held-out (test split) score with its 95% CI,
the tuned prompt's, their paired difference with its CI and the permutation test's p-value, and
the model calls the run sent (all roles; cache hits are free and counted apart). A row is
"significant" when the search's best beats the original on the test split at alpha 0.05 — the
test split is never seen by the search. Runs use their own store and response cache under
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

from core import PromptTunerError, answer_tokens, load_settings, load_task, tune  # noqa: E402

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
    return {
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


def _est(e: Any) -> dict[str, Any]:
    return {"mean": e.mean, "low": e.low, "high": e.high, "n": e.n}


def _pct(e: dict[str, Any]) -> str:
    return f"{e['mean']:.0%} [{e['low']:.0%}, {e['high']:.0%}]"


def table(rows: list[dict[str, Any]]) -> str:
    head = ["task", "strategy", "n", "original (test)", "tuned (test)", "difference [95% CI]", "p",
            "sig", "made by", "calls", "secs"]
    body = [[r["task"], r["strategy"], str(r["n_test"]), _pct(r["original"]), _pct(r["tuned"]),
             f"{r['diff']:+.0%} [{r['diff_low']:+.0%}, {r['diff_high']:+.0%}]", f"{r['p']:.3g}",
             "yes" if r["significant"] else "no", r["tuned_made_by"], str(r["calls"]),
             f"{r['seconds']:.0f}"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    sig = sum(r["significant"] for r in rows)
    tasks = len({r["task"] for r in rows})
    lines.append(f"significantly better on held-out examples: {sig} of {len(rows)} runs "
                 f"({tasks} tasks); calls per run at most {max(r['calls'] for r in rows)}")
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
