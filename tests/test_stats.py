"""Statistics behind every comparison the tuner reports: intervals, paired tests, judge consistency.

The simulation tests draw from fixed seeds, so they are deterministic: they check calibration (an
interval's coverage, a test's false-positive rate) once, not a fresh random sample on every run.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.metrics.stats import (
    ALPHA_MIN,
    MAD_MAX,
    PairedComparison,
    bootstrap_ci,
    compare_paired,
    effect_size_dz,
    estimate,
    holm,
    judge_is_consistent,
    krippendorff_alpha,
    mcnemar_exact,
    mean_abs_deviation,
    paired_bootstrap_ci,
    permutation_test,
    position_swap_agreement,
    sample_size_paired,
    sign_test,
    wilcoxon_signed_rank,
)

scipy_stats: Any = importlib.import_module("scipy.stats")  # untyped: no stubs installed
unit_floats = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def _pairs(n: int, shift: float, seed: int) -> tuple[list[float], list[float]]:
    """Graded scores of A, and of B = A + shift + noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    a = rng.beta(2, 2, n)
    b = np.clip(a + shift + rng.normal(0, 0.15, n), 0, 1)
    return a.tolist(), b.tolist()


# --- Calibration by simulation -----------------------------------------------------------------------------


def test_bootstrap_ci_covers_true_mean_95_percent_of_the_time() -> None:
    # Judge-like graded scores: Beta(2, 2) on [0, 1] (true mean 0.5), n = 100 per sample, default
    # 2000 resamples. The distribution is symmetric and bounded, where the percentile bootstrap of a
    # mean is honest at this n: its expected coverage is about 94.5% (it uses the plug-in sd and normal
    # rather than t quantiles), and 1000 samples give a standard error of 0.7 points. A skewed,
    # heavy-tailed distribution at small n would legitimately under-cover. (Over 17 seeds the coverage
    # ranged 0.932 to 0.955, mean 0.946; this one gives 0.940.)
    rng = np.random.default_rng(0)
    trials, n = 1000, 100
    covered = 0
    for i in range(trials):
        low, high = bootstrap_ci(rng.beta(2, 2, n).tolist(), seed=i)
        covered += low <= 0.5 <= high
    coverage = covered / trials
    print(f"bootstrap_ci coverage: {coverage:.3f}")
    assert 0.93 <= coverage <= 0.97


def test_permutation_test_false_positive_rate_is_about_alpha() -> None:
    # Null hypothesis: A and B scores of an example are two draws from the same distribution (a shared
    # per-example difficulty plus independent noise), n = 30 examples, so the Monte Carlo path runs.
    rng = np.random.default_rng(7)
    trials, n = 1000, 30
    rejected = 0
    for i in range(trials):
        difficulty = rng.normal(0, 1, n)
        a = difficulty + rng.normal(0, 1, n)
        b = difficulty + rng.normal(0, 1, n)
        rejected += permutation_test(a.tolist(), b.tolist(), seed=i, n_perm=1000) < 0.05
    rate = rejected / trials
    print(f"permutation_test null rejection rate: {rate:.3f}")
    assert 0.03 <= rate <= 0.07


def test_permutation_test_detects_a_clear_difference() -> None:
    detected = 0
    for seed in range(50):
        a, b = _pairs(60, 0.1, seed)  # d_z about 0.1 / 0.15: large
        detected += permutation_test(a, b, seed=seed, n_perm=1000) < 0.05
    assert detected >= 48
    # and in the other direction
    a, b = _pairs(60, 0.1, 99)
    assert permutation_test(b, a, n_perm=1000) < 0.01


# --- Bootstrap intervals ----------------------------------------------------------------------------------


def test_bootstrap_ci_unchanged_by_blockwise_resampling() -> None:
    # Small inputs resample in one block, exactly as before the memory bound was added.
    values = [0.2, 0.4, 0.6, 0.8] * 10
    rng = np.random.default_rng(1)
    x = np.asarray(values)
    means = x[rng.integers(0, x.size, size=(2000, x.size))].mean(axis=1)
    expected = (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))
    assert bootstrap_ci(values, seed=1) == expected


def test_paired_bootstrap_ci() -> None:
    a, b = _pairs(200, 0.05, 3)
    mean, low, high = paired_bootstrap_ci(a, b, seed=5)
    assert mean == pytest.approx(float(np.mean(b) - np.mean(a)))
    assert low < mean < high
    assert paired_bootstrap_ci(a, b, seed=5) == (mean, low, high)  # seeded: reproducible
    # Pairs stay together: B = A + 0.1 on every example is a difference known exactly, however
    # much the examples themselves vary.
    shifted = [x + 0.1 for x in a]
    m, lo, hi = paired_bootstrap_ci(a, shifted)
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1) and m == pytest.approx(0.1)
    # The paired interval is narrower than the difference of the two unpaired intervals would suggest.
    la, ha = bootstrap_ci(a)
    lb, hb = bootstrap_ci(b)
    assert high - low < (ha - la + hb - lb) / 2
    assert paired_bootstrap_ci([], []) == (0.0, -1.0, 1.0)
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap_ci([1.0], [1.0, 0.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(unit_floats, min_size=1, max_size=60))
def test_intervals_contain_the_mean_and_stay_in_range(values: list[float]) -> None:
    mean = sum(values) / len(values)
    low, high = bootstrap_ci(values, n_boot=500)
    assert 0.0 <= low <= mean + 1e-9 and mean - 1e-9 <= high <= 1.0
    est = estimate(values)
    assert 0.0 <= est.low <= est.mean + 1e-9 and est.mean - 1e-9 <= est.high <= 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(unit_floats, unit_floats), min_size=1, max_size=60))
def test_paired_interval_contains_the_difference(pairs: list[tuple[float, float]]) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    mean, low, high = paired_bootstrap_ci(a, b, n_boot=500)
    assert -1.0 <= low <= mean <= high <= 1.0


# --- Paired tests -----------------------------------------------------------------------------------------


def test_permutation_test_exact_enumeration() -> None:
    # Brute force over all sign patterns of a small sample.
    a = [0.1, 0.5, 0.3, 0.9, 0.2, 0.4, 0.7]
    b = [0.4, 0.6, 0.2, 1.0, 0.6, 0.4, 0.9]  # one tie: it takes no part
    d = [y - x for x, y in zip(a, b, strict=True) if y != x]
    observed = abs(sum(d))
    patterns = list(itertools.product((1, -1), repeat=len(d)))
    sums = [abs(sum(s * abs(v) for s, v in zip(p, d, strict=True))) for p in patterns]
    extreme = sum(total >= observed - 1e-12 for total in sums)
    assert permutation_test(a, b) == pytest.approx(extreme / len(patterns))
    # Exact: no seed involved.
    assert permutation_test(a, b, seed=1) == permutation_test(a, b, seed=2)
    # On 0/1 scores the sign-flip test is the sign test (McNemar).
    x = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0]
    y = [1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0]
    assert permutation_test(x, y) == pytest.approx(mcnemar_exact(x, y))
    assert permutation_test([0] * 6, [1] * 6) == pytest.approx(2 / 2**6)


def test_permutation_test_edge_cases() -> None:
    assert permutation_test([], []) == 1.0
    assert permutation_test([0.5, 1.0], [0.5, 1.0]) == 1.0
    # Monte Carlo: 40 differences all favouring B; no random pattern beats that, and the observed
    # one counts, so the p-value is its floor 1 / (n_perm + 1).
    assert permutation_test([0.0] * 40, [1.0] * 40, n_perm=999) == pytest.approx(1 / 1000)
    a, b = _pairs(40, 0.02, 11)
    assert permutation_test(a, b, seed=3) == permutation_test(a, b, seed=3)
    with pytest.raises(ValueError):
        permutation_test([0.0], [float("nan")])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(unit_floats, unit_floats), max_size=40), st.integers(0, 2**32 - 1))
def test_permutation_p_value_in_unit_interval(pairs: list[tuple[float, float]], seed: int) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    p = permutation_test(a, b, seed=seed, n_perm=200)
    assert 0.0 < p <= 1.0
    assert permutation_test(b, a, seed=seed, n_perm=200) == pytest.approx(p)  # two-sided: symmetric


def test_mcnemar_exact_known_values() -> None:
    # 10 discordant pairs, all favouring B: 2 * 0.5**10.
    assert mcnemar_exact([0] * 10 + [1] * 5, [1] * 10 + [1] * 5) == pytest.approx(0.001953125)
    # 8 favour B, 2 favour A: 2 * (C(10,0) + C(10,1) + C(10,2)) / 2**10 = 112 / 1024.
    a = [0] * 8 + [1] * 2 + [1] * 7 + [0] * 3
    b = [1] * 8 + [0] * 2 + [1] * 7 + [0] * 3
    assert mcnemar_exact(a, b) == pytest.approx(0.109375)
    assert mcnemar_exact(a, b) == sign_test(a, b)[2]
    assert mcnemar_exact([1, 0], [0, 1]) == 1.0
    assert mcnemar_exact([1, 1], [1, 1]) == 1.0
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact([0.5], [1.0])


def test_wilcoxon_agrees_with_scipy() -> None:
    a, b = _pairs(30, 0.05, 4)
    assert wilcoxon_signed_rank(a, b) == pytest.approx(float(scipy_stats.wilcoxon(b, a).pvalue))
    # Graded judge scores with ties and zero differences: zeros are dropped.
    a = [0.2, 0.4, 0.6, 0.8, 0.6, 0.4, 0.2, 0.8, 1.0, 0.0, 0.6, 0.6]
    b = [0.4, 0.4, 0.8, 1.0, 0.8, 0.2, 0.4, 0.8, 1.0, 0.2, 0.8, 0.6]
    expected = scipy_stats.wilcoxon(b, a, zero_method="wilcox").pvalue
    assert wilcoxon_signed_rank(a, b) == pytest.approx(float(expected))
    assert wilcoxon_signed_rank(b, a) == pytest.approx(float(expected))
    assert wilcoxon_signed_rank([0.3, 0.5], [0.3, 0.5]) == 1.0
    assert wilcoxon_signed_rank([], []) == 1.0


def test_effect_size_dz() -> None:
    assert effect_size_dz([0, 0, 0], [1, 2, 3]) == pytest.approx(2.0)  # mean 2, sd 1
    assert effect_size_dz([1, 2, 3], [0, 0, 0]) == pytest.approx(-2.0)
    assert effect_size_dz([0.5, 0.7], [0.5, 0.7]) == 0.0
    assert effect_size_dz([0.0, 0.2], [0.1, 0.3]) == math.inf  # every example better by the same amount
    assert effect_size_dz([0.1, 0.3], [0.0, 0.2]) == -math.inf
    assert effect_size_dz([0.0], [1.0]) == 0.0
    assert effect_size_dz([], []) == 0.0


def test_holm_textbook_example() -> None:
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running max 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([0.02]) == [0.02]
    assert holm([]) == []
    with pytest.raises(ValueError):
        holm([1.5])


@given(st.lists(unit_floats, max_size=30))
def test_holm_properties(pvalues: list[float]) -> None:
    adjusted = holm(pvalues)
    assert len(adjusted) == len(pvalues)
    for p, q in zip(pvalues, adjusted, strict=True):
        assert p <= q <= 1.0
    for (p1, q1), (p2, q2) in itertools.combinations(zip(pvalues, adjusted, strict=True), 2):
        if p1 <= p2:
            assert q1 <= q2
        if p2 <= p1:
            assert q2 <= q1


# --- Sample size ------------------------------------------------------------------------------------------


def test_sample_size_grows_as_delta_shrinks() -> None:
    a, b = _pairs(100, 0.02, 8)
    maybe_sizes = [sample_size_paired(a, b, delta=d) for d in (0.2, 0.1, 0.05, 0.025)]
    sizes = [s for s in maybe_sizes if s is not None]
    assert len(sizes) == 4
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    assert sizes[3] == pytest.approx(4 * sizes[2], rel=0.05)  # n goes as 1 / delta**2
    # Normal approximation: ((1.96 + 0.84) * sd / delta)**2.
    sd = float(np.std(np.subtract(b, a), ddof=1))
    assert sizes[1] == math.ceil(((1.959964 + 0.841621) * sd / 0.1) ** 2)
    assert sample_size_paired(a, b) == sample_size_paired(a, b, delta=float(np.mean(b) - np.mean(a)))
    assert sample_size_paired(a, b, delta=-0.1) == sizes[1]
    assert sample_size_paired(a, b, power=0.9, delta=0.1) > sizes[1]  # type: ignore[operator]
    assert sample_size_paired(a, b, delta=1e-6) == 1_000_000


def test_sample_size_binary() -> None:
    # 100 examples, 20 discordant: 14 favour B, 6 favour A (observed difference 0.08).
    a = [0] * 14 + [1] * 6 + [1] * 50 + [0] * 30
    b = [1] * 14 + [0] * 6 + [1] * 50 + [0] * 30
    n = sample_size_paired(a, b)
    psi, delta = 0.2, 0.08
    expected = (1.959964 * math.sqrt(psi) + 0.841621 * math.sqrt(psi - delta**2)) ** 2 / delta**2
    assert n == math.ceil(expected)
    assert sample_size_paired(a, b, delta=0.04) > n  # type: ignore[operator]
    # Nothing discordant in a small pilot: the discordant rate is floored at |delta|, not taken as 0.
    same = [1, 0, 1, 1, 0, 1]
    assert sample_size_paired(same, same, delta=0.1) > 50  # type: ignore[operator]
    # Every example favours B: still at least the 6 pairs a sign-flip test needs to reach p < 0.05.
    assert sample_size_paired([0] * 10, [1] * 10) == 6
    assert sample_size_paired([0, 0], [1, 1], delta=2.0) is None


def test_sample_size_undefined() -> None:
    assert sample_size_paired([0.2, 0.4, 0.6], [0.2, 0.4, 0.6]) is None  # delta 0
    assert sample_size_paired([], []) is None
    assert sample_size_paired([0.2], [0.5]) is None
    assert sample_size_paired([0.2, 0.4], [0.3, 0.5], delta=math.nan) is None
    with pytest.raises(ValueError):
        sample_size_paired([0.2, 0.4], [0.3, 0.5], alpha=0.0)


# --- compare_paired ---------------------------------------------------------------------------------------


def test_compare_paired_b_better() -> None:
    a, b = _pairs(80, 0.1, 21)
    result = compare_paired(a, b)
    assert result.verdict == "B is better"
    assert result.significant and result.p_value < 0.05
    assert result.n == 80 and result.diff > 0 and result.diff_low > 0
    assert result.diff == pytest.approx(result.mean_b - result.mean_a)
    assert result.test_name == "Wilcoxon signed-rank" and result.test_p < 0.05
    assert result.effect_size > 0.5
    assert result.b_wins + result.a_wins + result.ties == 80 and result.b_wins > result.a_wins
    assert result.needed_n is None
    assert compare_paired(a, b) == result  # seeded


def test_compare_paired_a_better_binary() -> None:
    a = [1] * 15 + [0] * 2 + [1] * 20 + [0] * 13
    b = [0] * 15 + [1] * 2 + [1] * 20 + [0] * 13
    result = compare_paired(a, b)
    assert result.verdict == "A is better"
    assert result.test_name == "McNemar exact"
    assert result.test_p == pytest.approx(sign_test(a, b)[2])
    assert (result.a_wins, result.b_wins, result.ties) == (15, 2, 33)
    assert result.diff_high < 0


def test_compare_paired_no_difference() -> None:
    a, _ = _pairs(30, 0.0, 5)
    same = compare_paired(a, a)
    assert same.verdict == "no significant difference"
    assert same.p_value == 1.0 and same.test_p == 1.0 and same.diff == 0.0 and same.needed_n is None
    assert not same.significant and same.effect_size == 0.0 and same.ties == 30
    # A small real difference on few examples: not significant, with an estimate of what would be.
    a, b = _pairs(30, 0.02, 13)
    small = compare_paired(a, b)
    assert not small.significant and small.needed_n is not None and small.needed_n > 30
    assert small.verdict == f"no significant difference (would need about {small.needed_n} examples)"
    empty = compare_paired([], [])
    assert empty.n == 0 and empty.verdict == "no significant difference"
    with pytest.raises(ValueError, match="same length"):
        compare_paired([1.0, 0.0], [1.0])


def test_compare_paired_to_json() -> None:
    result = compare_paired([0.0, 0.2, 0.4, 0.6, 0.1, 0.3, 0.5], [0.1, 0.3, 0.5, 0.7, 0.2, 0.4, 0.6])
    data = result.to_json()
    assert result.effect_size == math.inf and data["effect_size"] is None
    assert data["verdict"] == result.verdict and data["n"] == 7
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert set(data) == set(PairedComparison.__dataclass_fields__)


def test_paired_functions_are_fast_on_thousands_of_examples() -> None:
    a, b = _pairs(3000, 0.01, 17)
    start = time.perf_counter()
    paired_bootstrap_ci(a, b)
    permutation_test(a, b)
    compare_paired(a, b)
    elapsed = time.perf_counter() - start
    print(f"3000 examples: bootstrap + permutation + compare_paired in {elapsed:.2f}s")
    assert elapsed < 5  # about 0.5 s on a slow machine; a Python loop over resamples would take minutes


# --- Judge consistency ------------------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units, missing
# values; published alpha: nominal 0.743, ordinal 0.815, interval 0.849.
_OBSERVERS: list[list[float | None]] = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
KRIPPENDORFF_UNITS: list[list[float | None]] = [list(unit) for unit in zip(*_OBSERVERS, strict=True)]


def test_krippendorff_alpha_published_example() -> None:
    assert krippendorff_alpha(KRIPPENDORFF_UNITS, level="nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(KRIPPENDORFF_UNITS, level="ordinal") == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(KRIPPENDORFF_UNITS) == pytest.approx(0.849, abs=5e-4)


def test_krippendorff_alpha_hand_computed() -> None:
    # Units (1, 2) and (3, 3). Pooled values 1, 2, 3, 3 (n = 4, mean 2.25, SS 2.75). Within units:
    # m * SS / (m - 1) = 2 * 0.5 / 1 = 1 and 0. alpha = 1 - (n - 1) / n * 1 / 2.75 = 1 - 0.75 / 2.75 = 8/11.
    assert krippendorff_alpha([[1, 2], [3, 3]]) == pytest.approx(8 / 11)
    # Nominal on the same: o(1,2) = o(2,1) = 1, o(3,3) = 2; n_1 = n_2 = 1, n_3 = 2.
    # D_o ~ 2, D_e ~ 16 - (1 + 1 + 4) = 10, alpha = 1 - 3 * 2 / 10 = 0.4.
    assert krippendorff_alpha([[1, 2], [3, 3]], level="nominal") == pytest.approx(0.4)


def test_krippendorff_alpha_perfect_and_random() -> None:
    perfect: list[list[float | None]] = [[0.2, 0.2, 0.2], [0.9, 0.9, None], [0.5, 0.5, 0.5]]
    for level in ("interval", "ordinal", "nominal"):
        assert krippendorff_alpha(perfect, level=level) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    random_ratings: list[list[float | None]] = rng.integers(1, 6, size=(300, 3)).tolist()
    for level in ("interval", "ordinal", "nominal"):
        value = krippendorff_alpha(random_ratings, level=level)
        assert value is not None and abs(value) < 0.05


def test_krippendorff_alpha_undefined() -> None:
    assert krippendorff_alpha([]) is None
    assert krippendorff_alpha([[1.0], [2.0, None]]) is None  # no unit has two ratings
    assert krippendorff_alpha([[0.5, 0.5], [0.5, 0.5]]) is None  # no variation at all
    assert krippendorff_alpha([[0.5, 0.5], [0.5, 0.5]], level="nominal") is None
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha([[1, 2]], level="ratio")


def test_mean_abs_deviation() -> None:
    assert mean_abs_deviation([[1.0, 1.0], [0.0, 1.0]]) == pytest.approx(0.25)
    assert mean_abs_deviation([[0.2, None, 0.4], [0.7]]) == pytest.approx(0.1)  # single rating left out
    assert mean_abs_deviation([[0.3, 0.6, 0.9]]) == pytest.approx(0.2)
    assert mean_abs_deviation([]) == 0.0


def test_position_swap_agreement() -> None:
    assert position_swap_agreement(["A", "B", "tie", "A"], ["A", "A", "tie", "B"]) == 0.5
    assert position_swap_agreement(["a", " B"], ["A", "b"]) == 1.0
    assert position_swap_agreement([], []) == 1.0
    with pytest.raises(ValueError, match="same length"):
        position_swap_agreement(["A"], [])
    with pytest.raises(ValueError, match="verdicts"):
        position_swap_agreement(["A"], ["C"])


def test_judge_is_consistent() -> None:
    assert judge_is_consistent(0.8, 0.05)
    assert judge_is_consistent(ALPHA_MIN, MAD_MAX)
    assert not judge_is_consistent(None, 0.0)  # alpha undefined: no evidence of consistency
    assert not judge_is_consistent(0.5, 0.05)
    assert not judge_is_consistent(0.9, 0.3)
    assert not judge_is_consistent(0.9, 0.05, swap=0.6)
    assert judge_is_consistent(0.9, 0.05, swap=0.9)
    assert judge_is_consistent(0.6, 0.05, alpha_min=0.5)
    units = [[0.1, 0.15, 0.1], [0.9, 0.85, 0.9], [0.5, 0.6, 0.5], [0.3, 0.3, 0.35]]
    assert judge_is_consistent(krippendorff_alpha(units), mean_abs_deviation(units))
