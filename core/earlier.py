"""Proposals an earlier run already measured: a prompt that an earlier run of the same task, on
the same target model, scored on dev beside its parent and that did not beat it there, is not
paid for again.

The search of a rerun walks much the same ground as the run before it (the strategies are seeded
the same way, and their proposals depend on what was measured), so without this a rerun pays again
for every loser of its precedent. A proposal is the same as an earlier one when its demonstrations
(mode, number, indices, placement) and answer line are equal and its instruction is the same text
or, by MiniLM cosine, a near-duplicate of it (``tune.duplicate_threshold``). Winners and ties in
the earlier run's favour are never skipped: only a measured gain of zero or less over the parent
counts, and a rerun's warm start brings the earlier winner back anyway (``core.warmstart``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .candidate import Candidate, messages_text
from .clusters import embed_candidates, near_duplicate
from .errors import TaskError
from .insights import gains, model_name
from .lineage import extras_of, messages_of
from .predictor import finished_by
from .store import Store


@dataclass(frozen=True)
class Earlier:
    """One earlier proposal that did not beat its parent."""

    run_id: str
    candidate_id: str
    text: str
    demos: str          # canonical JSON of its demonstrations' spec ("null" without)
    answer_prefix: str | None
    gain: float         # paired dev gain over its parent there (<= 0)
    n: int              # dev examples the pair shared

    def why(self) -> str:
        return (f"measured in run {self.run_id} as `{self.candidate_id}`: {self.gain * 100:+.0f} "
                f"points against its parent on {self.n} dev examples; not paid for again")


def _demos(extras: dict[str, Any]) -> str:
    return json.dumps(extras.get("demos"), sort_keys=True)


def earlier_losers(store: Store, task_name: str, target: str, *, exclude_run: str,
                   before: float | None = None) -> list[Earlier]:
    """Every candidate of an earlier finished run of ``task_name`` on ``target``'s model (any
    endpoint) that scored no better than its parent on the dev examples they shared."""
    done = finished_by(store, before) if before is not None else None
    out: list[Earlier] = []
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for g in gains(store, task=task_name, target=model_name(target)):
        if g.run_id == exclude_run or (done is not None and g.run_id not in done) or g.gain > 0:
            continue
        if g.run_id not in rows:
            rows[g.run_id] = {str(r["id"]): r for r in store.candidates(g.run_id)}
        row = rows[g.run_id].get(g.child_id)
        if row is None:
            continue
        extras = extras_of(row)
        prefix = extras.get("answer_prefix")
        out.append(Earlier(g.run_id, g.child_id, messages_text(messages_of(row)), _demos(extras),
                           prefix if isinstance(prefix, str) else None, g.gain, g.n_examples))
    return out


def measured_before(made: Sequence[Candidate], earlier: Sequence[Earlier],
                    threshold: float) -> dict[str, str]:
    """The proposals that are one of ``earlier``: id -> why. Blocking (embeddings); without the
    embedding model only exact repeats are found."""
    out: dict[str, str] = {}
    if not earlier:
        return out
    vectors: dict[int, Any] | None = None  # each earlier text embedded once, when first needed
    for cand in made:
        text = messages_text(cand.messages)
        demos, prefix = _demos(cand.extras()), cand.answer_prefix
        same = [i for i, e in enumerate(earlier) if e.demos == demos and e.answer_prefix == prefix]
        exact = next((i for i in same if earlier[i].text == text), None)
        if exact is not None:
            out[cand.id] = earlier[exact].why()
            continue
        if not same or threshold > 1:
            continue
        try:
            if vectors is None:
                vectors = dict(enumerate(embed_candidates([e.text for e in earlier])))
            twin = near_duplicate(text, [(str(i), vectors[i]) for i in same], threshold)
        except TaskError:  # no embedding model installed: exact repeats only
            return out
        if twin is not None:
            out[cand.id] = earlier[int(twin)].why()
    return out
