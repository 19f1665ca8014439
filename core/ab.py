"""Strategies A/B: tune the same task once per strategy and seed at the same budget, then say
which strategy's winners score better on the held-out examples, and how sure that is.

A strategy is judged by what it hands back (the run's ``best``, which is the original prompt when
nothing beat it), scored on the test split the search never saw. Two strategies are compared on
the same (seed, held-out example) pairs with the paired permutation test of
:func:`~core.metrics.stats.compare_paired`; the p-values of every pair are Holm-corrected
together, so naming one strategy the winner of several comparisons keeps its 5% error rate.

The statistics (:func:`compare_strategies`) are pure: they take finished runs (:class:`ABRun`).
:func:`run_ab` runs the tunes. Each run is made independent of the others so that the order
they run in cannot favour one strategy: no warm start and no loser prediction (both learn from
the store, which the earlier runs of the A/B fill) and no response cache (a later strategy would
get the earlier ones' answers for free and spend its budget on more search).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import Secrets, Settings
from .engine import tune
from .errors import PromptTunerError
from .events import EventHandler
from .metrics.stats import Estimate, PairedComparison, compare_paired, estimate, holm
from .result import TuneResult
from .store import Store
from .strategies import strategy_names
from .task import Task

DEFAULT_SEEDS = 3
MAX_RUNS = 100  # strategies x seeds: one A/B is never more tunes than this


class ABError(PromptTunerError):
    """An A/B that cannot be run as asked (a user mistake: the CLI exits 2)."""


@dataclass(frozen=True)
class ABRun:
    """One tune of the A/B: its strategy and seed, and its winner's held-out scores by test
    example index (the same examples for every strategy of a seed)."""

    strategy: str
    seed: int
    run_id: str
    status: str
    best_id: str
    best_prompt: str
    improved: bool
    heldout: bool
    calls: int
    duration_s: float
    scores: dict[int, float]

    @classmethod
    def of(cls, result: TuneResult, strategy: str, seed: int, store: Store) -> ABRun:
        """The run as the A/B sees it; the winner's held-out scores are read from the store
        (only a run that reached its held-out check has them)."""
        rows = store.evaluations(result.run_id, result.best.id, split="test") \
            if result.heldout else []
        return cls(strategy=strategy, seed=seed, run_id=result.run_id, status=result.status,
                   best_id=result.best.id, best_prompt=result.best_prompt,
                   improved=result.improved, heldout=bool(rows), calls=result.calls,
                   duration_s=result.duration_s,
                   scores={int(r["example_index"]): float(r["score"]) for r in rows})

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "seed": self.seed, "run_id": self.run_id,
                "status": self.status, "best_id": self.best_id, "best_prompt": self.best_prompt,
                "improved": self.improved, "heldout": self.heldout, "calls": self.calls,
                "duration_s": round(self.duration_s, 3),
                "heldout_mean": (sum(self.scores.values()) / len(self.scores)
                                 if self.scores else None),
                "heldout_n": len(self.scores)}


@dataclass(frozen=True)
class StrategySummary:
    """A strategy over its runs: the held-out scores of its winners pooled over seeds."""

    strategy: str
    estimate: Estimate
    runs: int
    improved_runs: int
    calls: int
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "heldout": self.estimate.to_json(), "runs": self.runs,
                "improved_runs": self.improved_runs, "calls": self.calls,
                "duration_s": round(self.duration_s, 3)}


@dataclass(frozen=True)
class PairVerdict:
    """Strategy ``a`` against ``b``: ``comparison`` is of ``b - a`` (positive: b better);
    ``p_holm`` decides ``winner``."""

    a: str
    b: str
    comparison: PairedComparison
    p_holm: float
    winner: str | None
    verdict: str

    @property
    def loser(self) -> str | None:
        return None if self.winner is None else (self.b if self.winner == self.a else self.a)

    def to_json(self) -> dict[str, Any]:
        c = self.comparison
        return {"a": self.a, "b": self.b, "n": c.n, "mean_a": c.mean_a, "mean_b": c.mean_b,
                "diff": c.diff, "diff_low": c.diff_low, "diff_high": c.diff_high,
                "p_value": c.p_value, "p_holm": self.p_holm, "significant": self.winner is not None,
                "winner": self.winner, "b_wins": c.b_wins, "a_wins": c.a_wins, "ties": c.ties,
                "needed_n": c.needed_n, "verdict": self.verdict}


@dataclass(frozen=True)
class ABReport:
    task: str
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    max_calls: int | None
    alpha: float
    runs: tuple[ABRun, ...]
    summaries: tuple[StrategySummary, ...]
    pairs: tuple[PairVerdict, ...]
    overall: str
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "strategies": list(self.strategies), "seeds": list(self.seeds),
                "max_calls": self.max_calls, "alpha": self.alpha,
                "test": "paired permutation test over (seed, held-out example), Holm-corrected",
                "summaries": [s.to_json() for s in self.summaries],
                "pairs": [p.to_json() for p in self.pairs], "overall": self.overall,
                "runs": [r.to_json() for r in self.runs], "warnings": list(self.warnings)}


# -- statistics and verdicts (pure) ----------------------------------------------------------------

def paired_scores(runs: Sequence[ABRun], a: str, b: str) -> tuple[list[float], list[float]]:
    """Scores of ``a``'s and ``b``'s winners on every (seed, held-out example) both scored,
    in seed then example order."""
    by_key = {(r.strategy, r.seed): r for r in runs}
    xs: list[float] = []
    ys: list[float] = []
    for seed in sorted({r.seed for r in runs}):
        ra, rb = by_key.get((a, seed)), by_key.get((b, seed))
        if ra is None or rb is None:
            continue
        for i in sorted(ra.scores.keys() & rb.scores.keys()):
            xs.append(ra.scores[i])
            ys.append(rb.scores[i])
    return xs, ys


def _pts(x: float) -> str:
    return f"{x * 100:.0f}"


def pair_verdict(a: str, b: str, c: PairedComparison, p_holm: float, alpha: float) -> PairVerdict:
    """The pair in words: who beats whom by how many points (with the 95% CI of the paired
    difference) and the Holm-corrected p-value, or that no difference was detected."""
    if c.n == 0:
        return PairVerdict(a, b, c, p_holm, None, f"cannot compare {a} and {b}: no held-out "
                           "example was scored for both")
    if p_holm < alpha and c.diff != 0.0:
        if c.diff > 0:
            winner, loser, d, lo, hi = b, a, c.diff, c.diff_low, c.diff_high
        else:
            winner, loser, d, lo, hi = a, b, -c.diff, -c.diff_high, -c.diff_low
        return PairVerdict(a, b, c, p_holm, winner,
                           f"{winner} beats {loser} by +{_pts(d)} points [{_pts(lo)}, "
                           f"{_pts(hi)}], p={p_holm:.2g} after Holm (n={c.n})")
    text = (f"no detectable difference between {a} and {b}: {b} − {a} = "
            f"{c.diff * 100:+.0f} points [{_pts(c.diff_low)}, {_pts(c.diff_high)}], "
            f"p={p_holm:.2g} after Holm (n={c.n})")
    if c.needed_n is not None and c.needed_n > c.n:
        text += f"; a difference this size would need about {c.needed_n} paired scores"
    return PairVerdict(a, b, c, p_holm, None, text)


def overall_verdict(strategies: Sequence[str], pairs: Sequence[PairVerdict],
                    summaries: Sequence[StrategySummary]) -> str:
    """Which strategy to use: one that no other beats and that beats the rest; else which are
    not separated (with the cheapest of them, since they score alike)."""
    beats: dict[str, list[str]] = {s: [] for s in strategies}
    beaten: dict[str, list[str]] = {s: [] for s in strategies}
    for p in pairs:
        if p.winner is not None and p.loser is not None:
            beats[p.winner].append(p.loser)
            beaten[p.loser].append(p.winner)
    calls = {s.strategy: s.calls for s in summaries}
    top = [s for s in strategies if not beaten[s]]
    if len(top) == 1:
        (w,) = top
        others = [s for s in strategies if s != w]
        if len(beats[w]) == len(others):
            return f"Use {w}: it beats every other strategy on held-out examples."
        unseparated = [s for s in others if s not in beats[w]]
        return (f"Use {w}: no strategy beats it; it beats {_join(beats[w])} and is not "
                f"separated from {_join(unseparated)} (which lose to another strategy).")
    cheapest = min(top, key=lambda s: (calls.get(s, 0), strategies.index(s)))
    cost = f"{cheapest} spent the fewest calls ({calls.get(cheapest, 0)})"
    if len(top) == len(strategies):
        return (f"No strategy separates from the others on held-out examples; any will do, "
                f"and {cost}. More seeds or held-out examples may tell them apart.")
    dropped = [s for s in strategies if s not in top]
    return (f"No single winner: {_join(top)} are not separated from each other, and "
            f"{_join(dropped)} lose{'s' if len(dropped) == 1 else ''} to at least one of "
            f"them; of those left, {cost}.")


def _join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def summarize(runs: Sequence[ABRun], strategy: str, seed: int = 0) -> StrategySummary:
    mine = [r for r in runs if r.strategy == strategy]
    pooled = [s for r in sorted(mine, key=lambda r: r.seed) for _, s in sorted(r.scores.items())]
    return StrategySummary(strategy, estimate(pooled, seed=seed), len(mine),
                           sum(r.improved for r in mine), sum(r.calls for r in mine),
                           sum(r.duration_s for r in mine))


def compare_strategies(task: str, runs: Sequence[ABRun], strategies: Sequence[str],
                       seeds: Sequence[int], *, alpha: float = 0.05,
                       max_calls: int | None = None) -> ABReport:
    """Every pair of strategies, paired over seeds and held-out examples, Holm-corrected over
    all pairs; per strategy its pooled held-out score with a 95% CI, calls and wall time.

    Examples:
        Two strategies, two seeds each; ``fewshot``'s winners answer 18 more of 40 held-out
        examples right than ``auto``'s:

        >>> from core import ABRun, compare_strategies
        >>> def run(strategy, seed, right):
        ...     scores = {i: 1.0 if i < right else 0.0 for i in range(20)}
        ...     return ABRun(strategy, seed, f"run-{strategy}-{seed}", "finished", "c1", "…",
        ...                  improved=right > 8, heldout=True, calls=100, duration_s=10.0,
        ...                  scores=scores)
        >>> runs = [run("auto", 0, 8), run("fewshot", 0, 17), run("auto", 1, 7), run("fewshot", 1, 16)]
        >>> report = compare_strategies("movie-sentiment", runs, ["auto", "fewshot"], [0, 1])
        >>> [(s.strategy, s.estimate.n, round(s.estimate.mean, 3)) for s in report.summaries]
        [('auto', 40, 0.375), ('fewshot', 40, 0.825)]
        >>> report.pairs[0].winner, report.overall
        ('fewshot', 'Use fewshot: it beats every other strategy on held-out examples.')
    """
    strategies, seeds = tuple(strategies), tuple(seeds)
    raw = []
    for a, b in itertools.combinations(strategies, 2):
        xs, ys = paired_scores(runs, a, b)
        raw.append((a, b, compare_paired(xs, ys, alpha=alpha, seed=seeds[0] if seeds else 0)))
    adjusted = holm([c.p_value for _, _, c in raw])
    pairs = tuple(pair_verdict(a, b, c, p, alpha) for (a, b, c), p in zip(raw, adjusted,
                                                                         strict=True))
    summaries = tuple(summarize(runs, s) for s in strategies)
    warnings = tuple(
        f"{r.strategy}, seed {r.seed} (run {r.run_id}): no held-out scores — its budget ran out "
        "before the held-out check; give each run a bigger budget" for r in runs if not r.heldout)
    return ABReport(task, strategies, seeds, max_calls, alpha, tuple(runs), summaries, pairs,
                    overall_verdict(strategies, pairs, summaries), warnings)


# -- checks and running ----------------------------------------------------------------------------

def check_strategies(strategies: Sequence[str]) -> tuple[str, ...]:
    """The strategies to compare, or :class:`ABError` for an unknown, repeated or lone one."""
    names = tuple(s.strip() for s in strategies if s.strip())
    known = strategy_names()
    for s in names:
        if s not in known:
            raise ABError(f"unknown strategy '{s}'", f"use some of: {', '.join(known)}")
    repeated = sorted({s for s in names if names.count(s) > 1})
    if repeated:
        raise ABError(f"strategy '{repeated[0]}' is named twice", "name each strategy once")
    if len(names) < 2:
        raise ABError("ab compares strategies: give at least two",
                      "e.g. --strategies auto,fewshot")
    return names


def heldout_problem(task: Task, settings: Settings) -> ABError | None:
    """Why the task's runs would hold no example out (so there is nothing to compare on), with
    how to get held-out examples; None when they will have a test split."""
    if not task.examples:
        return ABError(f"task '{task.name}' has no examples, so none can be held out",
                       "write a task file with examples and a test split, e.g. "
                       "splits: {train: 0.4, dev: 0.3, test: 0.3}")
    if task.splits:
        if task.splits.get("test"):
            return None
        return ABError(f"task '{task.name}' has no test split, so nothing is held out",
                       "add a test share to its splits, e.g. splits: {train: 0.4, dev: 0.3, "
                       "test: 0.3}, or splits.files.test")
    least = settings.tune.auto_split_min
    if len(task.examples) >= least:
        return None  # the engine's seeded 40/30/30 split holds 30% out
    return ABError(f"task '{task.name}' has {len(task.examples)} examples and no splits, so "
                   "nothing is held out",
                   f"give it splits with a test share (splits: {{train: 0.4, dev: 0.3, test: "
                   f"0.3}}) or at least {least} examples")


def check_ab(task: Task, settings: Settings, strategies: Sequence[str],
             seeds: Sequence[int]) -> tuple[str, ...]:
    """Everything :func:`run_ab` refuses, before any model is called.

    Examples:
        >>> from pathlib import Path
        >>> from core import ABError, check_ab, load_settings, load_task
        >>> task = load_task(Path("examples/sentiment.tune.yaml"))  # 40 examples: 30% held out
        >>> settings = load_settings().settings
        >>> check_ab(task, settings, ["auto", "fewshot"], [0, 1, 2])
        ('auto', 'fewshot')
        >>> for strategies, seeds in ((["auto"], [0]), (["auto", "magic"], [0]), (["auto", "cot"], [1, 1])):
        ...     try:
        ...         check_ab(task, settings, strategies, seeds)
        ...     except ABError as exc:
        ...         print(exc.message)
        ab compares strategies: give at least two
        unknown strategy 'magic'
        seeds must be distinct and not negative
    """
    names = check_strategies(strategies)
    if not seeds:
        raise ABError("ab needs at least one seed", "e.g. --seeds 3")
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ABError("seeds must be distinct and not negative", "e.g. --seeds 3")
    if len(names) * len(seeds) > MAX_RUNS:
        raise ABError(f"{len(names)} strategies x {len(seeds)} seeds is more than {MAX_RUNS} "
                      "tunes", "compare fewer strategies or use fewer seeds")
    problem = heldout_problem(task, settings)
    if problem is not None:
        raise problem
    return names


def run_settings(settings: Settings, strategy: str, seed: int) -> Settings:
    """One run's settings: the A/B's, with its strategy and seed, learning from the store off
    (see the module's docstring)."""
    tuned = settings.tune.model_copy(update={"strategy": strategy, "seed": seed,
                                             "warm_start": False, "predictor": False})
    return settings.model_copy(update={"tune": tuned})


OnRun = Callable[[ABRun, int, int], None]  # a finished run, runs done, runs in all


async def run_ab(task: Task, settings: Settings, strategies: Sequence[str], seeds: Sequence[int],
                 *, secrets: Secrets | None = None, store: Store | None = None,
                 on_event: EventHandler | None = None, on_run: OnRun | None = None) -> ABReport:
    """Tune ``task`` once per strategy and seed, one run at a time (so wall times compare), at
    ``settings``' budget; then :func:`compare_strategies`. Refuses (:class:`ABError`) before
    any call what :func:`check_ab` refuses. Every run is an ordinary run in the store.

    Examples:
        A task too small to hold examples out has nothing to compare strategies on, so it is
        refused before any model is called:

        >>> import asyncio
        >>> from core import load_settings, quick_task, run_ab
        >>> asyncio.run(run_ab(quick_task("Write a haiku about rain"), load_settings().settings,
        ...                    ["auto", "opro"], [0]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.ab.ABError: task 'write-a-haiku-about-rain' has no examples, so none can be held out (...)
    """
    names = check_ab(task, settings, strategies, seeds)
    own_store = store is None
    store = store or Store(settings.store_file())
    runs: list[ABRun] = []
    total = len(names) * len(seeds)
    try:
        for seed in seeds:
            for strategy in names:
                result = await tune(task, run_settings(settings, strategy, seed), secrets=secrets,
                                    on_event=on_event, use_cache=False, store=store)
                runs.append(ABRun.of(result, strategy, seed, store))
                if on_run is not None:
                    on_run(runs[-1], len(runs), total)
    finally:
        if own_store:
            store.close()
    return compare_strategies(task.name, runs, names, seeds, alpha=settings.tune.alpha,
                              max_calls=settings.budget.max_calls)
