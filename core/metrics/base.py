"""The Metric contract: one answer, one example → a score in [0, 1] with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..task import Example


@dataclass(frozen=True)
class Score:
    """``outcome`` is a short machine tag ("ok", "wrong", "no_label", "parse_error"…) for reports;
    empty when the metric does not classify its failures."""

    value: float
    reason: str = ""
    outcome: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"score {self.value} outside [0, 1]")


@runtime_checkable
class Metric(Protocol):
    @property
    def name(self) -> str: ...

    async def score(self, answer: str, example: Example) -> Score: ...
