"""Racing: new candidates are scored on growing rungs of dev and the clearly worse ones dropped
early (a paired sign test against the incumbent, then successive halving); survivors are scored
on all of dev, so the pick among them rests on every dev example the run can afford."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from .candidate import Candidate
from .evaluator import Evaluation
from .metrics.stats import sign_test
from .store import Store
from .task import Example

log = logging.getLogger(__name__)

# Scores candidates on the first ``upto`` examples, growing their evaluations.
ScoreFn = Callable[[Sequence[Candidate], Sequence[Example], int], Awaitable[None]]


def rung_sizes(configured: Sequence[int], n: int) -> list[int]:
    """The configured rungs below ``n``, then doublings of the last one, then ``n``: with 100 dev
    examples and rungs [8, 16] a candidate may be dropped after 8, 16, 32 or 64 examples."""
    out = [r for r in sorted(set(configured)) if 0 < r < n]
    while out and out[-1] * 2 < n:
        out.append(out[-1] * 2)
    return [*out, n]


def expected_examples(configured: Sequence[int], n: int) -> float:
    """Examples a raced candidate is expected to be scored on, assuming half the field survives
    each rung (successive halving); the first rung is always paid in full."""
    total, done, alive = 0.0, 0, 1.0
    for rung in rung_sizes(configured, n):
        total += (rung - done) * alive
        done, alive = rung, alive / 2
    return total


class Racing:
    """Drops candidates during a race; ``pruned`` and ``evaluations`` are the run's own."""

    def __init__(self, store: Store, run_id: str, evaluations: dict[str, Evaluation],
                 pruned: set[str], rungs: Sequence[int], seed: int) -> None:
        self.store = store
        self.run_id = run_id
        self.evaluations = evaluations
        self.pruned = pruned
        self.rungs = list(rungs)
        self.seed = seed
        self.reasons: dict[str, str] = {}

    def prune(self, cand: Candidate, why: str) -> None:
        self.pruned.add(cand.id)
        self.reasons[cand.id] = why
        est = self.evaluations[cand.id].estimate(self.seed)
        self.store.set_candidate_score(self.run_id, cand.id, score=est.mean, low=est.low,
                                       high=est.high, n=est.n, status="pruned")
        log.info("pruned %s: %s", cand.id, why)

    async def race(self, score: ScoreFn, cands: Sequence[Candidate], dev: Sequence[Example],
                   incumbent: Evaluation) -> None:
        """Score ``cands`` rung by rung; after each rung drop those a paired sign test shows
        worse than the incumbent, then the worse half; survivors are scored on all of ``dev``."""
        alive = list(cands)
        for rung in rung_sizes(self.rungs, len(dev)):
            await score(alive, dev, rung)
            alive = [c for c in alive if not self.evaluations[c.id].partial]
            if rung == len(dev) or not alive:
                break
            alive = self._cut(alive, incumbent, rung)

    def _cut(self, alive: list[Candidate], incumbent: Evaluation, rung: int) -> list[Candidate]:
        shared = range(rung)
        base = [incumbent.results[i].score for i in shared if i in incumbent.results]
        keep = []
        for c in alive:
            ev = self.evaluations[c.id]
            mine = [ev.results[i].score for i in shared if i in ev.results]
            if len(mine) != len(base):
                keep.append(c)
                continue
            _, _, p = sign_test(base, mine)
            if sum(mine) < sum(base) and p < 0.1:
                self.prune(c, f"worse than the incumbent after {rung} examples (p={p:.2g})")
            else:
                keep.append(c)
        keep.sort(key=lambda c: (-self.evaluations[c.id].mean(), len(c.text()), c.id))
        inc_mean = sum(base) / len(base) if base else 0.0
        cut = max(1, (len(keep) + 1) // 2)
        for c in keep[cut:]:
            mean = self.evaluations[c.id].mean()
            if mean < inc_mean or mean < self.evaluations[keep[cut - 1].id].mean():
                self.prune(c, f"in the worse half after {rung} examples")
        return [c for c in keep if c.id not in self.pruned]
