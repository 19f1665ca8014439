"""The choices a finished run offers: its winner, the shortest prompt that scores like it, and the
cheapest one — a small Pareto set on dev score x prompt tokens x cost, defined once for every front.

A candidate can stand in for the winner when it was scored on all the dev examples the winner was,
its dev score lies within the winner's 95% interval and above the original's. Among those (the
winner included) the one with the fewest prompt tokens per answer, demonstrations included, is
*shortest*, and the one with the lowest cost per answer is *cheapest* — only when the run's target
has a price; without one every answer costs nothing and no candidate is cheaper. Tokens and cost
are ``core.selection.footprint``, the measure the run picked its winner by. A candidate that is
several of these is one choice with all its roles; the winner always comes first, and on a tie
the winner keeps the role. The original prompt is never a choice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from .candidate import Candidate
from .config import Price
from .errors import PromptTunerError
from .evaluator import Evaluation, ExampleResult
from .history import CandidateView, RunView
from .metrics.stats import Estimate
from .models import Completion, Message, parse_spec, price_fn
from .models.base import Role as MessageRole
from .selection import PriceFn, footprint
from .store import Store

Role = Literal["best", "shortest", "cheapest"]
ROLES: tuple[Role, ...] = ("best", "shortest", "cheapest")
UNSCORED = ("pruned", "dropped", "partial", "rejected", "proposed", "racing")


@dataclass(frozen=True)
class Measure:
    """One candidate as the choice needs it: its dev score, prompt tokens and cost per answer
    (``cost`` None: no price known)."""

    id: str
    dev: Estimate
    tokens: float
    cost: float | None


@dataclass(frozen=True)
class Choice:
    """A prompt a run offers in place of the original, with why (``roles``) and what it measured."""

    id: str
    version: int | None            # the task's version number (``store.versions``)
    roles: tuple[Role, ...]
    dev: Estimate
    tokens: float                  # prompt tokens per answer, demonstrations included
    cost: float | None             # USD per answer; None: the target has no price
    messages: tuple[Message, ...]

    @property
    def label(self) -> str:
        return f"v{self.version}" if self.version else self.id

    @property
    def is_best(self) -> bool:
        return "best" in self.roles


def choose(best: Measure, others: Sequence[Measure],
           original: Estimate | None = None) -> list[tuple[Measure, tuple[Role, ...]]]:
    """The winner, then the shortest and the cheapest of the candidates that score like it, each
    once with all its roles.

    >>> from core import Estimate
    >>> best = Measure("a", Estimate(0.9, 0.7, 1.0, 10), tokens=200, cost=None)
    >>> short = Measure("b", Estimate(0.8, 0.5, 0.95, 10), tokens=60, cost=None)
    >>> shorter = Measure("c", Estimate(0.5, 0.2, 0.8, 10), tokens=20, cost=None)  # outside
    >>> [(m.id, roles) for m, roles in choose(best, [short, shorter])]
    [('a', ('best', 'cheapest')), ('b', ('shortest',))]
    """
    floor = original.mean if original is not None else float("-inf")
    pool = [best] + [m for m in others if m.id != best.id and m.dev.n == best.dev.n
                     and best.dev.low <= m.dev.mean <= best.dev.high and m.dev.mean > floor]
    shortest = min(pool, key=lambda m: (m.tokens, m is not best, -m.dev.mean, m.id))
    priced = [m for m in pool if m.cost is not None]
    cheapest = min(priced, key=lambda m: (m.cost or 0.0, m is not best, m.tokens, m.id)) \
        if best.cost is not None else best
    picked = {"best": best, "shortest": shortest, "cheapest": cheapest}
    out: list[tuple[Measure, tuple[Role, ...]]] = []
    for m in (best, shortest, cheapest):
        if all(m is not seen for seen, _ in out):
            out.append((m, tuple(r for r in ROLES if picked[r] is m)))
    return out


def run_choices(view: RunView, store: Store) -> list[Choice]:
    """The choices of a stored run (``load_run``): empty when its winner is the original."""
    winner = view.search_best
    if winner is None or winner.is_original or winner.dev is None:
        return []
    price = _price(view)
    responses = {str(r["key"]): r for r in store.responses(view.id)}
    by_id = {c.id: c for c in view.candidates}
    measures = {c.id: _measure(store, view.id, c, responses, price) for c in view.candidates
                if c.dev is not None and c.dev.n and c.status not in UNSCORED and not c.is_original}
    if winner.id not in measures:
        return []
    original = view.original
    chosen = choose(measures[winner.id], [m for cid, m in measures.items() if cid != winner.id],
                    original.dev if original is not None else None)
    task = str(view.task.get("name") or view.run.get("task_name") or "")
    versions = {str(v["id"]): int(v["version"]) for v in store.versions(task)} if task else {}
    return [Choice(m.id, versions.get(m.id), roles, m.dev, m.tokens, m.cost,
                   _messages(by_id[m.id])) for m, roles in chosen]


def _messages(c: CandidateView) -> tuple[Message, ...]:
    return tuple(Message(cast(MessageRole, d["role"]), d["content"]) for d in c.messages)


def _measure(store: Store, run_id: str, c: CandidateView, responses: Mapping[str, Mapping[str, Any]],
             price: PriceFn | None) -> Measure:
    """Tokens and cost per dev answer (``footprint``) from the run's stored responses; the
    report's per-answer tokens when none was stored (every answer came from the cache)."""
    assert c.dev is not None
    results: dict[int, ExampleResult] = {}
    for row in store.evaluations(run_id, c.id, split="dev"):
        resp = responses.get(str(row.get("response_key") or ""))
        comp = None if resp is None else Completion(
            str(resp.get("text") or ""), prompt_tokens=int(resp.get("prompt_tokens") or 0),
            completion_tokens=int(resp.get("completion_tokens") or 0))
        index = int(row["example_index"])
        results[index] = ExampleResult(index, str(row.get("answer") or ""),
                                       float(row.get("score") or 0.0), str(row.get("reason") or ""),
                                       completion=comp)
    feet = footprint(Evaluation(Candidate(_messages(c)), results), price)
    if feet.tokens == float("inf"):
        return Measure(c.id, c.dev, c.prompt_tokens, None)
    return Measure(c.id, c.dev, feet.tokens, feet.cost if price is not None else None)


def _price(view: RunView) -> PriceFn | None:
    """What an answer cost at the target's price in the run's own settings (as the engine
    priced it); None when the target had none."""
    try:
        prices = json.loads(view.run.get("settings_json") or "{}").get("prices") or {}
        model = parse_spec(str(view.run.get("target") or "")).model
    except (ValueError, AttributeError, PromptTunerError):
        return None
    raw = prices.get(model) if isinstance(prices, dict) and model else None
    return price_fn(Price.model_validate(raw)) if isinstance(raw, dict) else None


__all__ = ["ROLES", "Choice", "Measure", "Role", "choose", "run_choices"]
