"""Budget and usage: what a run may spend, and what it has spent.

The budget is checked before a call is sent (``reserve``) and settled with the real numbers
after (``settle``); a call that would cross a limit is never sent, so a run cannot overrun.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from .errors import BudgetExhausted


class BudgetLimits(BaseModel):
    """What one run may spend (``budget:`` in the settings, ``--max-calls`` and its kin); None:
    no limit.

    Examples:
        >>> from core import load_settings
        >>> limits = load_settings(flags={"budget.max_calls": 300}).settings.budget
        >>> limits.max_calls, limits.max_cost
        (300, None)
    """

    model_config = ConfigDict(extra="forbid")

    max_calls: int | None = Field(default=None, ge=1, description="model calls sent (not cached)")
    max_tokens: int | None = Field(default=None, ge=1, description="prompt + completion tokens")
    max_cost: float | None = Field(default=None, gt=0, description="USD, from the price table")
    max_seconds: float | None = Field(default=None, gt=0, description="wall time of the run")


@dataclass
class Usage:
    """Counters for one model (one role) or for a whole run.

    Examples:
        >>> from core import Usage
        >>> total = Usage(calls=3, cache_hits=1, prompt_tokens=120, latencies=[0.2, 0.4, 0.3])
        >>> total.add(Usage(calls=1, completion_tokens=9, latencies=[0.5]))
        >>> summary = total.summary()
        >>> summary["calls"], summary["cache_hits"], summary["latency_p50_s"]
        (4, 1, 0.4)
    """

    calls: int = 0           # requests answered by a model (cache misses)
    attempts: int = 0        # HTTP/in-process attempts, retries included
    retries: int = 0
    cache_hits: int = 0
    history_hits: int = 0    # of the cache hits: answers earlier runs in the store received
    failures: int = 0        # calls that gave up after every attempt
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # of the prompt tokens: reused from the model's KV cache
    completion_tokens: int = 0
    cost: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.attempts += other.attempts
        self.retries += other.retries
        self.cache_hits += other.cache_hits
        self.history_hits += other.history_hits
        self.failures += other.failures
        self.prompt_tokens += other.prompt_tokens
        self.cached_prompt_tokens += other.cached_prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost += other.cost
        self.latencies.extend(other.latencies)

    def summary(self) -> dict[str, float | int]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 4) if lat else 0.0

        return {
            "calls": self.calls,
            "attempts": self.attempts,
            "retries": self.retries,
            "cache_hits": self.cache_hits,
            "history_hits": self.history_hits,
            "failures": self.failures,
            "prompt_tokens": self.prompt_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 6),
            "latency_p50_s": pct(0.5),
            "latency_p95_s": pct(0.95),
        }


class Budget:
    """Shared by every model of a run. Reservations make concurrent calls safe."""

    def __init__(self, limits: BudgetLimits | None = None) -> None:
        self.limits = limits or BudgetLimits()
        self.started = time.monotonic()
        self.calls = 0
        self.tokens = 0
        self.cost = 0.0
        self._reserved_calls = 0
        self._reserved_tokens = 0
        self.held = 0  # calls kept back for a later phase (the held-out confirmation)

    def hold(self, calls: int) -> None:
        """Keep ``calls`` back: spending stops that many short of the limit until released."""
        self.held = max(0, calls)

    def release(self) -> None:
        self.held = 0

    def remaining_calls(self) -> int | None:
        if self.limits.max_calls is None:
            return None
        return self.limits.max_calls - self.calls - self._reserved_calls - self.held

    def reserve(self, tokens: int) -> None:
        lim = self.limits
        if lim.max_calls is not None and (
            self.calls + self._reserved_calls + self.held + 1 > lim.max_calls
        ):
            kept = f" ({self.held} kept for the held-out check)" if self.held else ""
            raise BudgetExhausted(f"budget of {lim.max_calls} model calls is spent{kept}",
                                  "raise --max-calls to go on")
        if lim.max_tokens is not None and (
            self.tokens + self._reserved_tokens + tokens > lim.max_tokens
        ):
            raise BudgetExhausted(f"budget of {lim.max_tokens} tokens is spent",
                                  "raise budget.max_tokens")
        if lim.max_cost is not None and self.cost >= lim.max_cost:
            raise BudgetExhausted(f"budget of ${lim.max_cost:.2f} is spent",
                                  "raise budget.max_cost")
        if lim.max_seconds is not None and time.monotonic() - self.started > lim.max_seconds:
            raise BudgetExhausted(f"time budget of {lim.max_seconds:.0f}s is spent",
                                  "raise budget.max_seconds")
        self._reserved_calls += 1
        self._reserved_tokens += tokens

    def settle(self, reserved_tokens: int, *, sent: bool, tokens: int = 0, cost: float = 0.0) -> None:
        self._reserved_calls -= 1
        self._reserved_tokens -= reserved_tokens
        if sent:
            self.calls += 1
            self.tokens += tokens
            self.cost += cost
