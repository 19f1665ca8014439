"""What the tuner learned across runs: two passes of ``bench/quality.py`` side by side.

    python bench/quality.py --data ../shared/datasets --store S.db --cache C1.db --cold --json > first.json
    python bench/quality.py --data ../shared/datasets --store S.db --cache C2.db --json > second.json
    python bench/passes.py --first first.json --second second.json

The first pass learns nothing from the store (``--cold``) and leaves its runs there; the second
runs the same tasks on that store with a fresh response cache. What it saves comes two ways, shown
apart: what the first runs taught (warm starts, earlier losers and predicted losers skipped, a
rerun that stops once the earlier winner holds) cuts the requests its search makes; and a request
identical to one an earlier run made is answered from the store (``cache.history``: "replayed"),
not paid again. Per task: each pass's tuned prompt on the held-out examples with its 95% CI, their
paired difference (same test examples, same seed) with its CI and p-value, the first run's calls,
the second's requests (paid + replayed) and paid calls, and the savings. "same" means the second
pass's held-out score is not significantly below the first's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import compare_paired  # noqa: E402


def _rows(files: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        for row in json.loads(Path(f).read_text("utf-8")):
            out[f"{row['task']}/{row['strategy']}"] = row
    return out


def _pct(e: dict[str, Any]) -> str:
    return f"{e['mean']:.0%} [{e['low']:.0%}, {e['high']:.0%}]"


def pair(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """The second pass against the first on one task: paired held-out difference and calls."""
    a = {int(k): float(v) for k, v in first.get("tuned_test_scores", {}).items()}
    b = {int(k): float(v) for k, v in second.get("tuned_test_scores", {}).items()}
    shared = sorted(a.keys() & b.keys())
    diff = low = high = 0.0
    p = 1.0
    if shared:
        c = compare_paired([a[i] for i in shared], [b[i] for i in shared])
        diff, low, high, p = c.diff, c.diff_low, c.diff_high, c.p_value
    same = not (high < 0 or (p < 0.05 and diff < 0))
    replayed = int(second.get("history_hits", 0))
    asked = second["calls"] + replayed
    saved = 1 - second["calls"] / first["calls"] if first["calls"] else 0.0
    learned = 1 - asked / first["calls"] if first["calls"] else 0.0
    return {"task": first["task"], "first": first["tuned"], "second": second["tuned"],
            "n": len(shared), "diff": diff, "low": low, "high": high, "p": p, "same": same,
            "first_calls": first["calls"], "second_requests": asked,
            "second_calls": second["calls"], "replayed": replayed, "saved": saved,
            "saved_by_learning": learned, "warm_seeds": second.get("warm_seeds", 0),
            "skipped": second.get("skipped", {})}


def table(pairs: list[dict[str, Any]]) -> str:
    head = ["task", "n", "1st pass (test)", "2nd pass (test)", "2nd-1st [95% CI]", "p", "same",
            "1st calls", "2nd asked", "replayed", "2nd calls", "saved", "by learning",
            "warm seeds", "skipped"]
    body = [[r["task"], str(r["n"]), _pct(r["first"]), _pct(r["second"]),
             f"{r['diff']:+.0%} [{r['low']:+.0%}, {r['high']:+.0%}]", f"{r['p']:.2g}",
             "yes" if r["same"] else "NO", str(r["first_calls"]), str(r["second_requests"]),
             str(r["replayed"]), str(r["second_calls"]), f"{r['saved']:.0%}",
             f"{r['saved_by_learning']:.0%}", str(r["warm_seeds"]),
             ", ".join(f"{v} {k}" for k, v in sorted(r["skipped"].items())) or "—"]
            for r in pairs]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    first = sum(r["first_calls"] for r in pairs)
    second = sum(r["second_calls"] for r in pairs)
    asked = sum(r["second_requests"] for r in pairs)
    same = sum(r["same"] for r in pairs)
    lines.append(f"held-out score kept (not significantly lower): {same} of {len(pairs)} tasks; "
                 f"calls {first} -> {second} "
                 f"({1 - second / first if first else 0:.0%} fewer in all; requests {asked}, "
                 f"{1 - asked / first if first else 0:.0%} fewer by learning alone); "
                 f"tasks with at least 30% fewer calls: "
                 f"{sum(r['saved'] >= 0.3 for r in pairs)} of {len(pairs)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Two quality-bench passes side by side.")
    p.add_argument("--first", nargs="+", required=True, metavar="FILE",
                   help="--json outputs of the first (cold) pass")
    p.add_argument("--second", nargs="+", required=True, metavar="FILE",
                   help="--json outputs of the second pass, on the first pass's store")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        first, second = _rows(args.first), _rows(args.second)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    both = [k for k in first if k in second]
    if not both:
        print("error: no task is in both passes", file=sys.stderr)
        return 2
    pairs = [pair(first[k], second[k]) for k in both]
    print(json.dumps(pairs, indent=2) if args.json else table(pairs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
