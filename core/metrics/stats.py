"""Small, pure statistics: every score shown to a user carries n and a 95% interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def fmt(self, pct: bool = True) -> str:
        if self.n == 0:
            return "n/a (n=0)"
        if pct:
            return f"{self.mean:.0%} [{self.low:.0%}, {self.high:.0%}] (n={self.n})"
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    return _wilson_mean(k / n, n, z)


def _wilson_mean(mean: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    denom = 1 + z * z / n
    centre = (mean + z * z / (2 * n)) / denom
    half = z * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_ci(values: Sequence[float], *, seed: int = 0, n_boot: int = 2000,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded, so reports are reproducible)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return 0.0, 1.0
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


SMALL_N = 20


def estimate(values: Sequence[float], *, seed: int = 0) -> Estimate:
    """Mean with a 95% CI.

    0/1 scores: Wilson. Scores in [0, 1] from fewer than 20 examples: Wilson on the mean too —
    a [0, 1] variable's variance is at most mean x (1 - mean), so that interval is conservative,
    where a bootstrap of a handful of (often identical) values claims false precision.
    Otherwise: percentile bootstrap.
    """
    n = len(values)
    if n == 0:
        return Estimate(0.0, 0.0, 1.0, 0)
    mean = float(sum(values) / n)
    if n == 1:  # one observation says nothing about spread: the honest interval is everything
        return Estimate(mean, 0.0, 1.0, 1)
    if all(v in (0.0, 1.0) for v in values):
        low, high = wilson(int(sum(values)), n)
    elif n < SMALL_N:
        low, high = _wilson_mean(mean, n)
    else:
        low, high = bootstrap_ci(values, seed=seed)
    return Estimate(mean, low, high, n)


def sign_test(a: Sequence[float], b: Sequence[float]) -> tuple[int, int, float]:
    """Paired two-sided sign test on the same examples: (b better, a better, p-value).

    Ties are dropped; with 0/1 scores this is McNemar's exact test.
    """
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    wins = sum(1 for x, y in zip(a, b, strict=True) if y > x)
    losses = sum(1 for x, y in zip(a, b, strict=True) if x > y)
    n = wins + losses
    if n == 0:
        return 0, 0, 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return wins, losses, min(1.0, 2 * tail)
