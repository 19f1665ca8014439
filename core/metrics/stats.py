"""Small, pure statistics: every score shown to a user carries n and a 95% interval.

Also the paired A/B comparison of two prompts on the same examples (:func:`compare_paired`), Holm's
correction for several comparisons, and the consistency of an LLM judge (:func:`krippendorff_alpha`).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from statistics import NormalDist
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A mean score with its 95% confidence interval ``[low, high]`` and the number of examples
    behind it (see :func:`estimate`).

    Examples:
        >>> from core import Estimate
        >>> Estimate(0.75, 0.47, 0.91, 12).fmt()
        '75% [47%, 91%] (n=12)'
        >>> Estimate(0.75, 0.47, 0.91, 12).fmt(pct=False)
        '0.750 [0.470, 0.910] (n=12)'
        >>> from core.metrics import estimate
        >>> e = estimate([1, 1, 0, 1, 1, 0, 1, 1])
        >>> e.mean, e.n, e.low < e.mean < e.high
        (0.75, 8, True)
    """

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

    def to_json(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


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
    means = _bootstrap_means(x, np.random.default_rng(seed), n_boot)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


_CHUNK = 1 << 21  # elements per resampling block: bounds memory (16 MiB of indices) on large inputs


def _bootstrap_means(x: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``x``, drawn in memory-bounded blocks."""
    rows = max(1, _CHUNK // x.size)
    parts = []
    for start in range(0, n_boot, rows):
        idx = rng.integers(0, x.size, size=(min(rows, n_boot - start), x.size))
        parts.append(x[idx].mean(axis=1))
    return np.concatenate(parts)


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


# --- Paired A/B comparison of two prompts scored on the same examples --------------------------------------
#
# Every function below takes the scores of prompt A (``a``) and prompt B (``b``) on the same examples, in
# the same order, and looks at the per-example differences ``b - a``: positive means B did better.

_EXACT_MAX = 16  # the sign-flip test enumerates all 2**m sign patterns up to this many non-zero differences
_MAX_N = 1_000_000  # cap on sample_size_paired's answer: beyond it "about N examples" means "never"


def _paired(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Both score lists as float arrays, checked to be the same length and finite."""
    if len(a) != len(b):
        raise ValueError(f"paired samples must have the same length (got {len(a)} and {len(b)})")
    x, y = np.asarray(a, dtype=float).reshape(-1), np.asarray(b, dtype=float).reshape(-1)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("scores must be finite numbers")
    return x, y


def _is_binary(*arrays: np.ndarray) -> bool:
    return all(bool(np.all((x == 0.0) | (x == 1.0))) for x in arrays)


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], *, seed: int = 0, n_boot: int = 5000,
                        level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``b - a`` and its percentile bootstrap interval: ``(mean, low, high)``.

    Examples are resampled with replacement as pairs (an example's two scores stay together), so the
    interval accounts for the correlation between A and B on the same examples — much narrower than
    two independent intervals when both prompts find the same examples hard. Seeded: reproducible.

    No data gives ``(0.0, -1.0, 1.0)``, the widest difference of two [0, 1] scores; a constant difference
    gives a zero-width interval.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    x, y = _paired(a, b)
    d = y - x
    if d.size == 0:
        return 0.0, -1.0, 1.0
    mean = float(d.mean())
    if np.all(d == d[0]):
        return mean, mean, mean
    means = _bootstrap_means(d, np.random.default_rng(seed), n_boot)
    tail = (1 - level) / 2
    low, high = float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
    return mean, min(low, mean), max(high, mean)


def permutation_test(a: Sequence[float], b: Sequence[float], *, seed: int = 0, n_perm: int = 10000) -> float:
    """Two-sided paired permutation (sign-flip) test of ``mean(b - a) == 0``; returns the p-value.

    Under the null hypothesis the labels A and B are exchangeable within an example, so each difference
    is as likely to have either sign. The p-value is the share of sign patterns whose ``|sum|`` is at
    least the observed one. Zero differences take no part (flipping them changes nothing).

    Up to 16 non-zero differences every one of the ``2**m`` patterns is enumerated: the p-value is
    exact and needs no seed. Beyond that ``n_perm`` random patterns are drawn and the p-value is
    ``(count + 1) / (n_perm + 1)`` — counting the observed pattern itself, so it is never 0 and the
    test never rejects more often than its level. All differences zero (or no data): 1.0.
    """
    if n_perm < 1:
        raise ValueError("n_perm must be at least 1")
    x, y = _paired(a, b)
    d = y - x
    absd = np.abs(d[d != 0])
    m = absd.size
    if m == 0:
        return 1.0
    observed = abs(float(d.sum()))
    # A pattern with signs s sums to 2 * (absd where s = +1) - total; float sums of the same values in
    # another order may differ in the last bits, so "at least as extreme" gets a relative tolerance.
    total = float(absd.sum())
    threshold = observed - 1e-9 * total
    if m <= _EXACT_MAX:
        bits = (np.arange(2**m)[:, None] >> np.arange(m)) & 1
        sums = np.abs(2 * (bits @ absd) - total)
        return float(np.count_nonzero(sums >= threshold) / 2**m)
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK // m)
    count = 0
    for start in range(0, n_perm, rows):
        bits8 = rng.integers(0, 2, size=(min(rows, n_perm - start), m), dtype=np.int8)
        count += int(np.count_nonzero(np.abs(2 * (bits8 @ absd) - total) >= threshold))
    return (count + 1) / (n_perm + 1)


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> float:
    """McNemar's exact test for 0/1 scores (pass/fail per example); returns the two-sided p-value.

    Only discordant examples (one prompt passes, the other fails) carry information; under the null
    hypothesis each is equally likely to favour A or B, so their split is Binomial(discordant, 1/2) —
    the sign test on 0/1 data. Raises ``ValueError`` for scores other than 0 and 1.
    """
    x, y = _paired(a, b)
    if not _is_binary(x, y):
        raise ValueError("mcnemar_exact needs 0/1 scores")
    return sign_test(x.tolist(), y.tolist())[2]


def wilcoxon_signed_rank(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank test of the differences ``b - a``; returns the p-value.

    Uses ``scipy.stats.wilcoxon``. Zero differences are dropped (Wilcoxon's convention, the same as the
    sign and permutation tests: an example both prompts score alike says nothing about which is better).
    SciPy computes an exact p-value for few distinct differences and a tie-corrected normal
    approximation otherwise. All differences zero (or no data): 1.0.
    """
    x, y = _paired(a, b)
    d = y - x
    if not np.any(d != 0):
        return 1.0
    scipy_stats: Any = importlib.import_module("scipy.stats")  # imported on use: scipy is slow to load
    result = scipy_stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(min(1.0, float(result.pvalue)))


def effect_size_dz(a: Sequence[float], b: Sequence[float]) -> float:
    """Cohen's d_z: the mean of ``b - a`` over the standard deviation of ``b - a`` (n - 1 denominator).

    Rough reading: 0.2 small, 0.5 medium, 0.8 large. Conventions where the ratio is undefined:
    no spread and no mean difference (identical scores, or fewer than two examples): 0.0; no spread
    but a mean difference (B better on every example by the same amount): ``±math.inf``, signed like
    the difference — an infinite standardized effect is the honest value, and ``PairedComparison.to_json``
    writes it as ``None`` because JSON has no infinity.
    """
    x, y = _paired(a, b)
    d = y - x
    if d.size < 2:
        return 0.0
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order.

    Sorted ascending, the i-th smallest (0-based) of m p-values is multiplied by ``m - i``; a running
    maximum keeps the adjusted values monotone in the raw ones, and each is capped at 1. Rejecting the
    hypotheses whose adjusted p-value is below alpha controls the family-wise error rate at alpha,
    under any dependence between the tests.
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return [float(v) for v in out]


def _min_pairs(alpha: float) -> int:
    """Fewest non-zero pairs with which a two-sided sign-flip test can reach ``p < alpha`` at all."""
    n = 1
    while 2.0 / 2**n >= alpha and n < 64:
        n += 1
    return n


def sample_size_paired(a: Sequence[float], b: Sequence[float], *, delta: float | None = None,
                       alpha: float = 0.05, power: float = 0.8) -> int | None:
    """About how many paired examples would detect a mean difference of ``delta`` (two-sided test).

    ``delta`` defaults to the observed mean of ``b - a``; its sign does not matter. Normal approximation,
    with the spread of the differences taken from the data:

    * 0/1 scores (McNemar, Connor 1987): ``n = (z_a * sqrt(psi) + z_b * sqrt(psi - delta**2))**2 / delta**2``
      where ``psi`` is the share of discordant examples, floored at ``|delta|`` — a difference of
      ``delta`` needs at least that many discordant examples, and a small pilot where nothing was
      discordant would otherwise promise a handful of examples.
    * other scores: ``n = ((z_a + z_b) * sd / delta)**2`` with ``sd`` the standard deviation of the
      differences; if it is 0 (every difference alike), ``|delta|`` stands in for it.

    ``z_a`` is the normal quantile at ``1 - alpha / 2`` and ``z_b`` at ``power``. The answer is at least
    the fewest pairs with which a sign-flip test can reach ``alpha`` (6 at 0.05) and at most
    1,000,000. None when it cannot be estimated: fewer than 2 examples, ``delta`` 0 or not finite, or a
    ``delta`` above 1 for 0/1 scores.
    """
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must lie strictly between 0 and 1")
    x, y = _paired(a, b)
    if x.size < 2:
        return None
    d = y - x
    eff = abs(float(d.mean()) if delta is None else float(delta))
    if eff == 0.0 or not math.isfinite(eff):
        return None
    z_a = NormalDist().inv_cdf(1 - alpha / 2)
    z_b = NormalDist().inv_cdf(power)
    if _is_binary(x, y):
        if eff > 1.0:
            return None
        psi = max(float(np.mean(d != 0)), eff)
        n = (z_a * math.sqrt(psi) + z_b * math.sqrt(max(0.0, psi - eff * eff))) ** 2 / eff**2
    else:
        sd = float(d.std(ddof=1))
        if sd <= 1e-12 * eff:
            sd = eff
        n = ((z_a + z_b) * sd / eff) ** 2
    if not math.isfinite(n) or n >= _MAX_N:
        return _MAX_N
    return max(_min_pairs(alpha), math.ceil(n - 1e-9))


@dataclass(frozen=True)
class PairedComparison:
    """Everything an A/B test of prompt A (scores ``a``) against prompt B (scores ``b``) reports.

    ``p_value`` is the paired permutation test and alone decides ``significant``; ``test_name`` /
    ``test_p`` is a second opinion (McNemar's exact test for 0/1 scores, else Wilcoxon signed-rank).
    ``diff`` is ``mean_b - mean_a`` with its paired bootstrap interval ``[diff_low, diff_high]``.
    ``needed_n`` is only set when the difference is not significant.
    """

    n: int
    mean_a: float
    mean_b: float
    diff: float
    diff_low: float
    diff_high: float
    p_value: float
    test_name: str
    test_p: float
    effect_size: float
    b_wins: int
    a_wins: int
    ties: int
    needed_n: int | None
    significant: bool
    alpha: float
    verdict: str

    def to_json(self) -> dict[str, Any]:
        """Plain dict for ``json.dumps``; non-finite floats (an infinite effect size) become None."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[f.name] = value
        return out


def compare_paired(a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05,
                   seed: int = 0) -> PairedComparison:
    """A/B test of prompt A (scores ``a``) against prompt B (scores ``b``) on the same examples.

    The verdict is ``"B is better"`` or ``"A is better"`` when the permutation test's p-value is below
    ``alpha``, else ``"no significant difference (would need about N examples)"`` — N from
    :func:`sample_size_paired` at the observed difference — or plain ``"no significant difference"``
    when N cannot be estimated. Raises ``ValueError`` for lists of different lengths.

    Examples:
        >>> from core import compare_paired
        >>> a = [0, 1, 0, 0, 1, 0, 0, 1, 0, 0] * 3   # prompt A right on 9 of 30 examples
        >>> b = [1, 1, 1, 0, 1, 1, 1, 1, 0, 1] * 3   # prompt B right on 24, A's 9 among them
        >>> c = compare_paired(a, b)
        >>> c.verdict, c.significant, round(c.diff, 2), c.b_wins, c.a_wins
        ('B is better', True, 0.5, 15, 0)
        >>> c.test_name, c.p_value < 0.05, c.diff_low > 0
        ('McNemar exact', True, True)
        >>> compare_paired([1, 0, 1, 0], [0, 1, 1, 0]).verdict  # doctest: +ELLIPSIS
        'no significant difference...'
    """
    x, y = _paired(a, b)
    n = int(x.size)
    mean, low, high = paired_bootstrap_ci(a, b, seed=seed)
    p = permutation_test(a, b, seed=seed)
    if _is_binary(x, y):
        test_name, test_p = "McNemar exact", mcnemar_exact(a, b)
    else:
        test_name, test_p = "Wilcoxon signed-rank", wilcoxon_signed_rank(a, b)
    significant = p < alpha and mean != 0.0
    needed = None if significant else sample_size_paired(a, b, alpha=alpha)
    if significant:
        verdict = "B is better" if mean > 0 else "A is better"
    elif needed is None:
        verdict = "no significant difference"
    else:
        verdict = f"no significant difference (would need about {needed} examples)"
    return PairedComparison(
        n=n,
        mean_a=float(x.mean()) if n else 0.0,
        mean_b=float(y.mean()) if n else 0.0,
        diff=mean, diff_low=low, diff_high=high,
        p_value=p, test_name=test_name, test_p=test_p,
        effect_size=effect_size_dz(a, b),
        b_wins=int(np.count_nonzero(y > x)), a_wins=int(np.count_nonzero(x > y)),
        ties=int(np.count_nonzero(x == y)),
        needed_n=needed, significant=significant, alpha=alpha, verdict=verdict,
    )


# --- Judge consistency -------------------------------------------------------------------------------------
#
# ``ratings`` is a list of units (the judged examples), each the list of the k ratings it got (k judges,
# or one judge asked k times); None (or NaN) marks a missing rating.

Ratings = Sequence[Sequence[float | None]]


def _units(ratings: Ratings) -> list[np.ndarray]:
    """Each unit's present ratings, keeping only units with at least two (the pairable ones)."""
    out = []
    for unit in ratings:
        values = np.asarray([float(v) for v in unit if v is not None], dtype=float)
        values = values[~np.isnan(values)]
        if np.any(np.isinf(values)):
            raise ValueError("ratings must be finite numbers or None")
        if values.size >= 2:
            out.append(values)
    return out


def krippendorff_alpha(ratings: Ratings, *, level: str = "interval") -> float | None:
    """Krippendorff's alpha: agreement between ratings of the same units, corrected for chance.

    ``1 - D_o / D_e``: observed disagreement within units over the disagreement expected if all
    pairable ratings were shuffled across units. 1 is perfect agreement, 0 is no better than chance,
    negative is systematic disagreement. Missing ratings are allowed; units with fewer than two ratings
    are left out. ``level`` picks the distance between two ratings: ``"interval"`` (squared difference),
    ``"ordinal"`` (squared distance in ranks, from the counts of the values between them) or
    ``"nominal"`` (equal or not).

    None when undefined: no unit with two ratings, or every pairable rating the same value (no
    variation to be reliable about, so agreement cannot be told from chance).
    """
    if level not in ("interval", "ordinal", "nominal"):
        raise ValueError(f"unknown level {level!r}: use 'interval', 'ordinal' or 'nominal'")
    units = _units(ratings)
    if not units:
        return None
    pooled = np.concatenate(units)
    n = pooled.size
    if level == "interval":
        # sum over ordered pairs within a unit of (v_i - v_j)**2 is 2 * m * SS_unit; over all pairable
        # values it is 2 * n * SS_total — so alpha needs only sums of squares, linear in the data.
        total_ss = float(np.sum((pooled - pooled.mean()) ** 2))
        if total_ss <= 1e-12 * max(1.0, float(np.sum(pooled**2))):
            return None
        within = sum(u.size * float(np.sum((u - u.mean()) ** 2)) / (u.size - 1) for u in units)
        return 1.0 - (n - 1) / n * within / total_ss
    values, codes = np.unique(pooled, return_inverse=True)
    if values.size < 2:
        return None
    # Coincidence matrix: o[c, k] counts ordered pairs of ratings (c, k) within units, weighted 1/(m-1).
    o = np.zeros((values.size, values.size))
    start = 0
    for u in units:
        counts = np.bincount(codes[start:start + u.size], minlength=values.size).astype(float)
        start += u.size
        o += (np.outer(counts, counts) - np.diag(counts)) / (u.size - 1)
    n_c = o.sum(axis=1)
    if level == "nominal":
        dist = 1.0 - np.eye(values.size)
    else:  # ordinal: the distance between c < k is the number of ratings from c to k, ends counted half
        cum = np.cumsum(n_c)
        mid = cum - n_c / 2  # rank position of each value
        dist = (mid[:, None] - mid[None, :]) ** 2
    observed = float(np.sum(o * dist))
    expected = float(np.sum(np.outer(n_c, n_c) * dist))
    return 1.0 - (n - 1) * observed / expected


def mean_abs_deviation(ratings: Ratings) -> float:
    """Mean over units of the mean absolute deviation of a unit's ratings from that unit's mean.

    On the ratings' own scale (for scores in [0, 1], 0.15 is a loose bound for "judges agree").
    Units with fewer than two ratings are left out; with none left the result is 0.0.
    """
    units = _units(ratings)
    if not units:
        return 0.0
    return float(np.mean([np.mean(np.abs(u - u.mean())) for u in units]))


_VERDICTS = {"a": "A", "b": "B", "tie": "tie"}


def position_swap_agreement(first: Sequence[str], swapped: Sequence[str]) -> float:
    """Share of pairwise judgements that survive swapping the order the two answers are shown in.

    ``first[i]`` is the winner ("A", "B" or "tie") when answer A is shown first; ``swapped[i]`` the
    winner when B is shown first, already mapped back to the original labels. A judge free of position
    bias agrees with itself on every example (1.0); one that always picks the first answer shown agrees
    only on ties. Labels are read case-insensitively; no judgements give 1.0 (nothing inconsistent seen).
    """
    if len(first) != len(swapped):
        raise ValueError("first and swapped must have the same length")
    if not first:
        return 1.0
    agree = 0
    for x, y in zip(first, swapped, strict=True):
        try:
            agree += _VERDICTS[x.strip().lower()] == _VERDICTS[y.strip().lower()]
        except KeyError as err:
            raise ValueError(f"verdicts must be 'A', 'B' or 'tie', got {err.args[0]!r}") from None
    return agree / len(first)


ALPHA_MIN = 0.667  # Krippendorff's floor for drawing even tentative conclusions (0.8 for firm ones)
MAD_MAX = 0.15  # on a [0, 1] score scale: ratings of one example stray 0.15 from their mean on average
SWAP_MIN = 0.8  # a pairwise judge that flips on more than 1 in 5 examples when the order changes is biased


def judge_is_consistent(alpha: float | None, mad: float, *, swap: float | None = None,
                        alpha_min: float = ALPHA_MIN, mad_max: float = MAD_MAX,
                        swap_min: float = SWAP_MIN) -> bool:
    """Whether a judge's scores are consistent enough to tune against.

    Needs Krippendorff's alpha defined and at least ``alpha_min`` (0.667, Krippendorff's lowest
    acceptable value), the mean absolute deviation at most ``mad_max`` (0.15 for [0, 1] scores), and, if
    a position-swap agreement is given, at least ``swap_min`` (0.8).
    """
    if alpha is None or alpha < alpha_min or mad > mad_max:
        return False
    return swap is None or swap >= swap_min
