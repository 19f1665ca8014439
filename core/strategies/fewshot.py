"""``fewshot``: demonstrations from the train split, put where the target copies from.

Three kinds of demo set, all from train only: the k nearest train examples to each input by
sentence embedding (small models copy the closest worked example remarkably well), label-balanced
fixed sets, and random fixed sets (seeded). Each is tried as chat turns, the nearest-neighbour
set also inline, so the search finds the placement the target handles best.
"""

from __future__ import annotations

import random

from ..candidate import Candidate, Demos
from .base import StrategyContext


def balanced(labels: list[str | None], k: int, rng: random.Random) -> tuple[int, ...]:
    """k indices cycling through the labels (shuffled order), random within each label."""
    by: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by.setdefault(label or "", []).append(i)
    keys = sorted(by)
    rng.shuffle(keys)
    for members in by.values():
        rng.shuffle(members)
    out: list[int] = []
    while len(out) < k and any(by.values()):
        for key in keys:
            if by[key] and len(out) < k:
                out.append(by[key].pop())
    return tuple(out)


class FewShot:
    name = "fewshot"

    def early(self, ctx: StrategyContext, base: Candidate) -> Candidate | None:
        """``base`` with its 4 nearest train examples as chat turns (fewer with a smaller
        pool); None without a train split or when ``base`` has demonstrations already."""
        pool = ctx.pool
        if pool is None or len(pool) == 0 or base.demos is not None:
            return None
        k = min(4, len(pool))
        return Candidate(messages=base.messages, parents=(base.id,), strategy=self.name,
                         operator="demos", generation=base.generation + 1,
                         note=f"{k} nearest train examples as chat turns",
                         demos=Demos("knn", k), answer_prefix=base.answer_prefix)

    async def step(self, ctx: StrategyContext, n: int) -> list[Candidate]:
        pool = ctx.pool
        if pool is None or len(pool) == 0:
            return []
        base = ctx.parent()
        size = len(pool)
        rng = random.Random(ctx.seed_for(0))
        labels = [e.expected for e in pool.examples]
        options: list[tuple[Demos, str]] = []
        for k in (4, 2, 8):
            if k <= size:
                options.append((Demos("knn", k), f"{k} nearest train examples as chat turns"))
        if size >= 4:
            options.append((Demos("fixed", 4, balanced(labels, 4, rng)),
                            "4 label-balanced train examples as chat turns"))
            options.append((Demos("knn", 4, placement="inline"), "4 nearest train examples inline"))
            options.append((Demos("fixed", 4, tuple(sorted(rng.sample(range(size), 4)))),
                            "4 random train examples as chat turns"))
        out = []
        for demos, note in options:
            if demos == base.demos:
                continue
            out.append(Candidate(messages=base.messages, parents=(base.id,), strategy=self.name,
                                 operator="demos", generation=base.generation + 1, note=note,
                                 demos=demos, answer_prefix=base.answer_prefix))
        return out[:n]
