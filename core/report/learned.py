"""The report's "Learned across runs" section: what went with gains on this run's target model in
every run of the store (``core.insights``), what this run began with from earlier runs
(``core.warmstart``), and the proposals it did not pay for (near-duplicates, predicted losers)."""

from __future__ import annotations

from typing import Any

from ..history import RunView
from ..insights import insights
from ..predictor import calibration, describe
from ..store import Store

TOP = 8  # factors shown, the strongest effects either way


def learned_facts(view: RunView, store: Store) -> dict[str, Any]:
    # the model, on any endpoint: what works on a model does not depend on where it is served
    target = str(view.run.get("target") or "").split("@", 1)[0]
    found = insights(store, target=target) if target else []
    ranked = sorted(found, key=lambda i: (-abs(i.mean), i.factor))[:TOP]
    rows = [{"factor": i.factor.split(": ", 1)[-1], "kind": i.factor.split(": ", 1)[0],
             "n": i.n, "gain": f"{i.mean * 100:+.0f}",
             "ci": f"[{i.low * 100:+.0f}, {i.high * 100:+.0f}]",
             "beat": f"{i.beat_parent:.0%}", "verdict": i.verdict, "runs": i.runs}
            for i in sorted(ranked, key=lambda i: -i.mean)]
    warm = [c.note for c in view.candidates if c.strategy == "warm" and c.note]
    mine = calibration(store, run_id=view.id)
    past = calibration(store, target=target) if target else None
    return {"target": target, "rows": rows, "warm": warm, "skipped": mine.skipped,
            "predictor": describe(past) if past is not None and (past.n or past.skipped) else ""}
