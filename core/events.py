"""What a run tells the outside world while it runs.

The engine calls ``on_event(event)`` for each of these; fronts (CLI, Slack, LSP) render them.
Events are plain frozen dataclasses so a front can match on type and serialise them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .metrics.stats import Estimate


@dataclass(frozen=True)
class Event:
    run_id: str

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class PhaseStarted(Event):
    phase: str  # baseline | propose | evaluate | refine | finalize
    total: int | None = None  # units of work planned in the phase (model calls or candidates)
    detail: str = ""


@dataclass(frozen=True)
class CandidateProposed(Event):
    candidate_id: str
    operator: str
    parents: tuple[str, ...] = ()
    preview: str = ""


@dataclass(frozen=True)
class ExampleScored(Event):
    candidate_id: str
    done: int
    total: int
    score: float = 0.0


@dataclass(frozen=True)
class EvaluationDone(Event):
    candidate_id: str
    estimate: Estimate
    partial: bool = False


@dataclass(frozen=True)
class RoundFinished(Event):
    round: int
    best_id: str
    best: Estimate


@dataclass(frozen=True)
class RunWarning(Event):
    message: str
    level: str = "warning"  # "info": worth saying, not a problem (e.g. an automatic split)


@dataclass(frozen=True)
class RunFinished(Event):
    status: str
    best_id: str
    summary: dict[str, Any] = field(default_factory=dict)


EventHandler = Callable[[Event], None]
