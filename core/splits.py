"""Seeded, stratified train/dev/test splits.

Within each stratum (examples with the same label) the indices are shuffled with a seed derived
from the task's seed and the label, then cut by the split fractions with largest-remainder
rounding, so every split keeps the label mix of the whole and the same seed always gives the
same split, whatever order the strata are visited in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

SPLIT_NAMES = ("train", "dev", "test")


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Split n items by fractions (summing to 1), largest remainder first, ties to the earlier."""
    raw = [n * f for f in fractions]
    counts = [math.floor(x) for x in raw]
    left = n - sum(counts)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def assign_splits(n: int, fractions: Mapping[str, float], *, seed: int = 0,
                  strata: Sequence[str | None] | None = None) -> dict[str, tuple[int, ...]]:
    """Indices 0..n-1 split by ``fractions`` (name → share, summing to 1), sorted within each
    split. ``strata[i]`` is example i's label (``None``: unlabelled, its own stratum)."""
    names = [name for name in SPLIT_NAMES if fractions.get(name)]
    names += sorted(k for k in fractions if k not in SPLIT_NAMES and fractions[k])
    shares = [fractions[name] for name in names]
    groups: dict[str, list[int]] = {}
    for i in range(n):
        key = "" if strata is None or strata[i] is None else f"={strata[i]}"
        groups.setdefault(key, []).append(i)
    out: dict[str, list[int]] = {name: [] for name in names}
    for key in sorted(groups):
        members = groups[key]
        random.Random(f"{seed}:{key}").shuffle(members)
        start = 0
        for name, count in zip(names, _allocate(len(members), shares), strict=True):
            out[name].extend(members[start:start + count])
            start += count
    return {name: tuple(sorted(idx)) for name, idx in out.items()}


AUTO_FRACTIONS = {"train": 0.4, "dev": 0.3, "test": 0.3}


def auto_splits(expected: Sequence[str | None], *, stratify: bool,
                seed: int) -> dict[str, tuple[int, ...]]:
    """The seeded 40/30/30 train/dev/test split of a task that gives none (stratified by the
    expected label for label tasks): the engine's, and what reports rebuild to find train."""
    return assign_splits(len(expected), AUTO_FRACTIONS, seed=seed,
                         strata=list(expected) if stratify else None)
