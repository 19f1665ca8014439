"""What went with gains, across every stored run: each child candidate against its parent on the
dev examples both were scored on, grouped per target model by the child's operator and by what it
changed (added demonstrations, stated the output format, …), each with n, mean gain and a 95% CI.

A gain is paired: the mean over shared dev examples of (child score − parent score). One gain is
one child/parent pair; children of one parent share that parent's luck, so read n as pairs, not
as independent experiments. Many factors are looked at at once: about one in twenty with no real
effect will still show a CI that excludes 0.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .lineage import extras_of, messages_of, parents_of
from .store import Store

Feature = str | int | bool
Features = dict[str, Feature]
Verdict = Literal["helps", "hurts", "no clear effect"]

FINISHED = ("finished", "budget_exhausted")
_FORMAT = re.compile(r"answer with|reply with|respond with|one word|only the|\bjson\b|"
                     r"nothing else|output format", re.IGNORECASE)
_COT = re.compile(r"step[- ]by[- ]step|\bthink|\breason", re.IGNORECASE)
_SLOT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
SHORT, LONG = 25, 80            # words: short < 25 <= medium <= 80 < long
LENGTH_RATIO, LENGTH_WORDS = 0.25, 5  # a longer/shorter instruction: by 25% and 5 words at least


# -- features of one candidate ----------------------------------------------------------------------

def _words(messages: Sequence[dict[str, Any]]) -> int:
    text = " ".join(str(m.get("content", "")) for m in messages)
    return len(_SLOT.sub(" ", text).split())


def _bucket(words: int) -> str:
    return "short" if words < SHORT else ("long" if words > LONG else "medium")


def prompt_features(messages: list[dict[str, Any]], extras: dict[str, Any]) -> Features:
    """What a stored candidate does: output format stated, demonstrations (how many, how chosen,
    where put), chain of thought asked, instruction length (words without ``{{ slot }}`` parts),
    a system message, an answer prefix."""
    text = _SLOT.sub(" ", " ".join(str(m.get("content", "")) for m in messages))
    demos = extras.get("demos") if isinstance(extras.get("demos"), dict) else None
    k = 0
    if demos is not None:
        raw = demos.get("k")
        k = int(raw) if isinstance(raw, int | float) else len(demos.get("indices") or [])
    words = _words(messages)
    return {
        "output_format": bool(_FORMAT.search(text)),
        "demos": k,
        "demo_mode": str(demos.get("mode") or "fixed") if demos and k else "none",
        "demo_placement": str(demos.get("placement") or "turns") if demos and k else "none",
        "chain_of_thought": bool(_COT.search(text)),
        "words": words,
        "length": _bucket(words),
        "system_message": any(m.get("role") == "system" for m in messages),
        "answer_prefix": bool(extras.get("answer_prefix")),
    }


# -- what a child changed -----------------------------------------------------------------------------

_TOGGLES = (  # feature: (name when the child turns it on, name when it turns it off)
    ("output_format", "stated the output format", "dropped the output format"),
    ("chain_of_thought", "asked for step-by-step reasoning", "stopped asking for reasoning"),
    ("system_message", "added a system message", "removed the system message"),
    ("answer_prefix", "added an answer prefix", "removed the answer prefix"),
)


def _int(features: Features, key: str) -> int:
    value = features.get(key, 0)
    return int(value) if isinstance(value, int | bool) else 0


def _demo_changes(parent: Features, child: Features) -> list[str]:
    before, after = _int(parent, "demos"), _int(child, "demos")
    if not before and after:
        return ["added demonstrations"]
    if before and not after:
        return ["removed demonstrations"]
    out = ["more demonstrations"] if after > before else (
        ["fewer demonstrations"] if after < before else [])
    if before and after and parent.get("demo_mode") != child.get("demo_mode"):
        out.append("demos by nearest neighbours" if child.get("demo_mode") == "knn"
                   else "fixed demos")
    if before and after and parent.get("demo_placement") != child.get("demo_placement"):
        out.append("demos as inline examples" if child.get("demo_placement") == "inline"
                   else "demos as chat turns")
    return out


def changes(parent_features: Features, child_features: Features) -> list[str]:
    """What the child changed relative to its parent, as readable names (empty: nothing these
    features see, e.g. a rewording of about the same length)."""
    out = _demo_changes(parent_features, child_features)
    for key, on, off in _TOGGLES:
        before, after = bool(parent_features.get(key)), bool(child_features.get(key))
        if after != before:
            out.append(on if after else off)
    words, now = _int(parent_features, "words"), _int(child_features, "words")
    if abs(now - words) >= max(LENGTH_WORDS, LENGTH_RATIO * words):
        out.append("longer instruction" if now > words else "shorter instruction")
    return out


# -- paired gains ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gain:
    """One child against its parent on the dev examples both were scored on."""

    run_id: str
    task: str
    target: str          # the model, without its endpoint
    child_id: str
    parent_id: str
    strategy: str
    operator: str
    changes: tuple[str, ...]
    n_examples: int      # shared dev examples
    gain: float          # mean of (child − parent) over them
    se: float            # its standard error over the examples

    @property
    def factors(self) -> list[str]:
        return [f"operator: {self.strategy}/{self.operator}",
                *(f"change: {c}" for c in self.changes)]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "changes": list(self.changes), "factors": self.factors}


def model_name(target: str) -> str:
    """``openai:llama3@http://host:8080/v1`` → ``openai:llama3``."""
    return target.partition("@")[0]


def target_matches(target: str, spec: str) -> bool:
    """``spec`` names the run's target: the whole spec, without the endpoint, or the bare model."""
    name = model_name(target)
    return spec in (target, name, name.partition(":")[2] or name)


def _runs(store: Store, task: str | None, target: str | None) -> list[dict[str, Any]]:
    rows = store.runs_with_status(FINISHED, task)
    return [r for r in rows if target is None or target_matches(str(r["target"] or ""), target)]


def pair(child: dict[int, float], parent: dict[int, float]) -> tuple[int, float, float] | None:
    shared = sorted(child.keys() & parent.keys())
    if not shared:
        return None
    d = [child[i] - parent[i] for i in shared]
    n, mean = len(d), sum(d) / len(d)
    var = sum((x - mean) ** 2 for x in d) / (n - 1) if n > 1 else 1.0  # one example: anything
    return n, mean, math.sqrt(var / n)


def _run_gains(store: Store, run: dict[str, Any]) -> Iterable[Gain]:
    rid = str(run["id"])
    rows = {str(r["id"]): r for r in store.candidates(rid)}
    scores: dict[str, dict[int, float]] = {}
    for e in store.evaluations(rid, split="dev"):
        if e.get("score") is not None:
            scores.setdefault(str(e["candidate_id"]), {})[int(e["example_index"])] = float(
                e["score"])
    features = {cid: prompt_features(messages_of(r), extras_of(r)) for cid, r in rows.items()}
    for cid, row in rows.items():
        parents = parents_of(row)
        if not parents or parents[0] not in rows or parents[0] == cid:
            continue
        got = pair(scores.get(cid, {}), scores.get(parents[0], {}))
        if got is None:
            continue
        yield Gain(rid, str(run["task_name"]), model_name(str(run["target"] or "")), cid,
                   parents[0], str(row.get("strategy") or ""), str(row.get("operator") or ""),
                   tuple(changes(features[parents[0]], features[cid])), *got)


def gains(store: Store, task: str | None = None, target: str | None = None) -> list[Gain]:
    """Every child with a parent in the same finished run, both scored on dev examples they
    share: its paired gain, operator and changes. Oldest run first."""
    return [g for run in _runs(store, task, target) for g in _run_gains(store, run)]


# -- grouped into insights ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Insight:
    target: str
    factor: str          # "operator: <strategy>/<operator>" or "change: <name>"
    n: int               # child/parent pairs
    mean: float          # mean gain (scores 0-1: 0.3 is +30 points)
    low: float           # its 95% CI
    high: float
    beat_parent: float   # share of the children that scored above their parent
    runs: int            # runs the pairs came from
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def mean_ci(gains: Sequence[float], ses: Sequence[float] = (),
            level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean gain. Its variance is the spread between pairs, but at
    least the mean sampling variance of one pair's gain (``ses``): three identical gains measured
    on a few examples each do not make a zero-width interval. One gain: the whole range."""
    n = len(gains)
    if n == 0:
        return -1.0, 1.0
    mean = sum(gains) / n
    if n == 1:
        return -1.0, 1.0
    var = sum((g - mean) ** 2 for g in gains) / (n - 1)
    if ses:
        var = max(var, sum(s * s for s in ses) / len(ses))
    stats: Any = importlib.import_module("scipy.stats")  # on use: scipy is slow to load
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * math.sqrt(var / n)
    return max(-1.0, mean - half), min(1.0, mean + half)


def _verdict(low: float, high: float) -> Verdict:
    return "helps" if low > 0 else ("hurts" if high < 0 else "no clear effect")


def summarize(target: str, factor: str, group: Sequence[Gain]) -> Insight:
    values = [g.gain for g in group]
    low, high = mean_ci(values, [g.se for g in group])
    return Insight(target, factor, len(group), sum(values) / len(values), low, high,
                   sum(1 for v in values if v > 0) / len(values),
                   len({g.run_id for g in group}), _verdict(low, high))


def group(found: Iterable[Gain], min_n: int = 3) -> list[Insight]:
    """Gains grouped by (target, factor); groups of fewer than ``min_n`` pairs left out. By target,
    then the largest mean gain first."""
    groups: dict[tuple[str, str], list[Gain]] = {}
    for g in found:
        for factor in g.factors:
            groups.setdefault((g.target, factor), []).append(g)
    made = [summarize(t, f, gs) for (t, f), gs in groups.items() if len(gs) >= min_n]
    return sorted(made, key=lambda i: (i.target, -i.mean, i.factor))


def insights(store: Store, task: str | None = None, target: str | None = None,
             min_n: int = 3) -> list[Insight]:
    """Which operators and changes went with gains over the parent, per target model."""
    return group(gains(store, task, target), min_n)
