"""Before a proposal is paid for: its expected paired dev gain over its parent, learnt from every
earlier child/parent pair in the store (:func:`core.insights.gains`) on the same target model, so
that the engine can score the promising proposals first and skip the confident losers; and how
well those predictions did once the proposals were scored (:func:`calibration`).

The model is a ridge regression of the gain on indicators of the child's factors, as insights
names them ("operator: <strategy>/<operator>", "change: <what it changed>"), plus an unpenalized
intercept. Its 95% interval is that of the expected gain: the residual variance (at least the mean
sampling variance of one pair's gain) times x'(X'X+λI)⁻¹x, with a Student-t quantile on the
residual degrees of freedom; a factor never seen adds 1/λ, so it leaves the interval wide open.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .candidate import Candidate
from .insights import Gain, changes, gains, model_name, pair, prompt_features, target_matches
from .store import Store

MIN_SUPPORT = 6      # earlier pairs sharing a factor before a proposal may be called a loser
LAMBDA = 0.01        # ridge penalty (in pairs: a factor seen once is barely shrunk)
LEVEL = 0.95
MIN_SD = 0.01        # residual sd never below one point: identical gains are not certainties
TIE = 0.01           # |gain| below this has no sign when predicted and measured signs are compared

Vector = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Prediction:
    """Expected paired dev gain of a child over its parent (score units, -1..1), its 95% interval,
    how many earlier pairs share one of its factors, and the factors."""

    gain: float
    low: float
    high: float
    support: int
    factors: tuple[str, ...]

    @property
    def loser(self) -> bool:
        """Confidently worse than its parent, on enough earlier pairs."""
        return self.support >= MIN_SUPPORT and self.high < 0

    def to_json(self) -> dict[str, Any]:
        return {"gain": self.gain, "low": self.low, "high": self.high, "support": self.support,
                "factors": list(self.factors), "loser": self.loser}


def factors_of(parent: Candidate, child: Candidate) -> tuple[str, ...]:
    """The child's factors against its parent, named as :attr:`core.insights.Gain.factors`."""
    found = changes(prompt_features(parent.to_json(), parent.extras()),
                    prompt_features(child.to_json(), child.extras()))
    return (_operator(child), *(f"change: {c}" for c in found))


def _operator(child: Candidate) -> str:
    return f"operator: {child.strategy}/{child.operator}"


@dataclass(frozen=True)
class _Fit:
    beta: Vector
    a_inv: Vector        # (X'X + λD)⁻¹, D: identity but for the intercept
    sigma2: float
    t: float


def finished_by(store: Store, when: float) -> set[str]:
    """The ids of the runs that had finished at ``when`` (a timestamp)."""
    return store.finished_run_ids(when)


class Predictor:
    """Ridge regression of earlier pairs' gains on their factors; see the module's docstring.

    ``target``: the model it predicts for (without endpoint); ``pooled``: that model had fewer than
    MIN_SUPPORT earlier pairs, so every target's pairs were used; ``pairs``: pairs trained on."""

    def __init__(self, pairs: Sequence[Gain], *, target: str | None = None, pooled: bool = False,
                 lam: float = LAMBDA) -> None:
        self.target, self.pooled, self.pairs, self.lam = target, pooled, len(pairs), lam
        self._rows = [frozenset(g.factors) for g in pairs]
        self.columns: tuple[str, ...] = tuple(sorted(set().union(*self._rows)))
        self._index = {f: i + 1 for i, f in enumerate(self.columns)}
        self._fit = self._train(pairs) if pairs else None

    @classmethod
    def from_store(cls, store: Store, target: str | None, *, exclude_run: str | None = None,
                   task: str | None = None, before: float | None = None) -> Predictor:
        """Trained on the finished runs' pairs for ``target`` (a run's target spec, the model
        without endpoint, or the bare model; None: all), leaving out ``exclude_run``; with
        ``before``, only runs finished by then (a resumed run learns from what its first leg
        learned from)."""
        found = [g for g in gains(store, task) if g.run_id != exclude_run]
        if before is not None:
            done = finished_by(store, before)
            found = [g for g in found if g.run_id in done]
        if target is None:
            return cls(found)
        name = model_name(target)
        own = [g for g in found if target_matches(g.target, name)]
        if len(own) >= MIN_SUPPORT or len(found) == len(own):
            return cls(own, target=name)
        return cls(found, target=name, pooled=True)

    def _design(self, rows: Sequence[Iterable[str]]) -> Vector:
        x = np.zeros((len(rows), len(self.columns) + 1))
        x[:, 0] = 1.0
        for i, row in enumerate(rows):
            for f in row:
                if f in self._index:
                    x[i, self._index[f]] = 1.0
        return x

    def _train(self, pairs: Sequence[Gain]) -> _Fit:
        x, y = self._design(self._rows), np.array([g.gain for g in pairs], dtype=np.float64)
        penalty = self.lam * np.eye(x.shape[1])
        penalty[0, 0] = 0.0
        a_inv: Vector = np.linalg.inv(x.T @ x + penalty).astype(np.float64)
        beta = a_inv @ x.T @ y
        resid = y - x @ beta
        dof = max(len(pairs) - float(np.trace(x @ a_inv @ x.T)), 1.0)
        noise = sum(g.se ** 2 for g in pairs) / len(pairs)
        sigma2 = max(float(resid @ resid) / dof, noise, MIN_SD ** 2)
        stats: Any = importlib.import_module("scipy.stats")  # on use: scipy is slow to load
        return _Fit(beta, a_inv, sigma2, float(stats.t.ppf(0.5 + LEVEL / 2, dof)))

    def predict_factors(self, factors: Iterable[str]) -> Prediction:
        names = tuple(dict.fromkeys(factors))
        support = sum(1 for row in self._rows if not row.isdisjoint(names))
        fit = self._fit
        if fit is None:
            return Prediction(0.0, -1.0, 1.0, 0, names)
        x = self._design([names])[0]
        unseen = sum(1 for f in names if f not in self._index)
        gain = float(x @ fit.beta)
        half = fit.t * math.sqrt(fit.sigma2 * (float(x @ fit.a_inv @ x) + unseen / self.lam))
        return Prediction(_clip(gain), _clip(gain - half), _clip(gain + half), support, names)

    def predict(self, parent: Candidate, child: Candidate) -> Prediction:
        return self.predict_factors(factors_of(parent, child))


def _clip(value: float) -> float:
    return min(1.0, max(-1.0, value))


# -- calibration ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """Stored predictions against the gains measured later: ``n`` measured ones, their mean
    absolute error, Pearson correlation and share with the right sign; ``skipped`` proposals."""

    n: int
    mae: float | None
    correlation: float | None
    sign_agreement: float | None
    skipped: int

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "mae": self.mae, "correlation": self.correlation,
                "sign_agreement": self.sign_agreement, "skipped": self.skipped}


def _dev_scores(store: Store, run_id: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for e in store.evaluations(run_id, split="dev"):
        if e.get("score") is not None:
            out.setdefault(str(e["candidate_id"]), {})[int(e["example_index"])] = float(e["score"])
    return out


def _sign(x: float) -> int:
    return 0 if abs(x) < TIE else (1 if x > 0 else -1)


def _correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 3:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def calibration(store: Store, target: str | None = None, run_id: str | None = None) -> Calibration:
    """Predictions (of ``run_id``, for ``target``'s model) against the paired dev gain measured
    for those candidates afterwards; a store from before predictions were kept has none."""
    if "predictions" not in set(store.iter_tables()):
        return Calibration(0, None, None, None, 0)
    rows = [r for r in store.predictions(run_id)
            if target is None or target_matches(str(r.get("target") or ""), model_name(target))]
    scores: dict[str, dict[str, dict[int, float]]] = {}
    pairs: list[tuple[float, float]] = []
    for r in rows:
        if r.get("skipped"):
            continue
        rid = str(r["run_id"])
        if rid not in scores:
            scores[rid] = _dev_scores(store, rid)
        run = scores[rid]
        got = pair(run.get(str(r["candidate_id"]), {}), run.get(str(r["parent_id"]), {}))
        if got is not None:
            pairs.append((float(r["predicted"]), got[1]))
    skipped = sum(1 for r in rows if r.get("skipped"))
    if not pairs:
        return Calibration(0, None, None, None, skipped)
    pred, meas = [p for p, _ in pairs], [m for _, m in pairs]
    return Calibration(len(pairs), sum(abs(p - m) for p, m in pairs) / len(pairs),
                       _correlation(pred, meas),
                       sum(1 for p, m in pairs if _sign(p) == _sign(m)) / len(pairs), skipped)


def describe(cal: Calibration) -> str:
    """One line: "the predictor skipped 3 proposals; on 41 earlier predictions its error was
    6 points (correlation 0.52, right sign 78%)"."""
    head = f"the predictor skipped {cal.skipped} proposal{'' if cal.skipped == 1 else 's'}"
    if not cal.n or cal.mae is None or cal.sign_agreement is None:
        return f"{head}; none of its predictions has been measured yet"
    corr = "" if cal.correlation is None else f"correlation {cal.correlation:.2f}, "
    return (f"{head}; on {cal.n} earlier prediction{'' if cal.n == 1 else 's'} its error was "
            f"{round(cal.mae * 100)} points ({corr}right sign {round(cal.sign_agreement * 100)}%)")
