"""What a run tells the outside world while it runs.

The engine calls ``on_event(event)`` for each of these; fronts (CLI, Slack, LSP) render them.
Events are plain frozen dataclasses so a front can match on type and serialise them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from .metrics.stats import Estimate


@dataclass(frozen=True)
class Event:
    run_id: str

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


Phase = Literal["baseline", "propose", "evaluate", "confirm", "finalize"]
PHASES: tuple[Phase, ...] = get_args(Phase)


@dataclass(frozen=True)
class PhaseStarted(Event):
    """A phase begins: ``baseline`` (the original scored on dev), then in each round ``propose``
    (``total`` new candidates) and ``evaluate`` (``total`` answers), ``confirm`` (the original and
    the best on held-out examples) and ``finalize`` (the report). ``round`` is the round's number
    in ``propose`` and ``evaluate``, else None."""

    phase: Phase
    total: int | None = None  # units of work planned in the phase (answers or candidates)
    detail: str = ""
    round: int | None = None


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
class Progress(Event):
    """What the run has spent so far, against its budget (sent as answers come in)."""

    calls: int                 # answered by a model (cache misses)
    cache_hits: int
    retries: int
    failures: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    elapsed_s: float
    max_calls: int | None = None
    max_cost: float | None = None
    max_tokens: int | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ModelCalled(Event):
    """One paid model call landed (the summary ``-vv`` and ``--log-file`` show)."""

    model: str
    key: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: str
    request_preview: str = ""
    answer_preview: str = ""


@dataclass(frozen=True)
class RunFinished(Event):
    status: str
    best_id: str
    summary: dict[str, Any] = field(default_factory=dict)


EventHandler = Callable[[Event], None]
