"""What the progress message says: a run's state folded from the core's events.

``ProgressState.apply`` is called from ``on_event`` (synchronously, on the event loop): it only
updates fields. Calls, tokens and cost are the engine's own ``Progress`` events (what this leg of
the run paid for), added to what earlier legs of a resumed run had spent (``carry``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core import (
    CandidateProposed,
    Estimate,
    EvaluationDone,
    Event,
    ExampleScored,
    PhaseStarted,
    Progress,
    RoundFinished,
    RunFinished,
    RunWarning,
)

PHASES: dict[str, str] = {
    "starting": "starting", "baseline": "scoring the original prompt",
    "propose": "proposing new prompts", "evaluate": "scoring the proposals",
    "confirm": "checking the best on held-out examples", "finalize": "writing the report"}
DONE_WORDS = {"finished": "Finished", "budget_exhausted": "Finished (budget spent)",
              "cancelled": "Cancelled", "failed": "Stopped", "restarting": "Paused"}


@dataclass(frozen=True)
class Spent:
    """Model calls (answered, not cached), tokens and cost (USD, from the price table)."""

    calls: int = 0
    tokens: int = 0
    cost: float = 0.0


@dataclass
class ProgressState:
    run_id: str
    task_name: str
    budget: int | None
    phase: str = "starting"
    phase_total: int | None = None
    phase_done: int = 0
    round: int = 0
    best: Estimate | None = None
    best_id: str = ""
    candidates: int = 0
    calls: int = 0
    tokens: int = 0
    cost: float | None = None
    cost_budget: float | None = None
    warnings: list[str] = field(default_factory=list)
    status: str | None = None     # set when the run ends
    note: str = ""                # e.g. who cancelled, or "resumed after a restart"
    before: Spent = field(default_factory=Spent)  # a resumed run's earlier legs

    def carry(self, before: Spent) -> None:
        """Count what the run had spent before this leg (a bot restart resumed it)."""
        self.before = before
        self.calls, self.tokens = before.calls, before.tokens
        self._cost(before.cost)

    def _cost(self, total: float) -> None:
        # shown once there is a price for it (or a cost budget to hold it against)
        if total or self.cost is not None or self.cost_budget is not None:
            self.cost = total

    def apply(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self.phase, self.phase_total, self.phase_done = event.phase, event.total, 0
            if event.round:
                self.round = event.round
        elif isinstance(event, CandidateProposed):
            self.candidates += 1
            if self.phase == "propose":
                self.phase_done += 1
        elif isinstance(event, ExampleScored):
            self.phase_done += 1
        elif isinstance(event, EvaluationDone):
            if not event.partial and (self.best is None or event.estimate.mean > self.best.mean):
                self.best, self.best_id = event.estimate, event.candidate_id
        elif isinstance(event, RoundFinished):
            self.round, self.best, self.best_id = event.round, event.best, event.best_id
        elif isinstance(event, RunWarning):
            icon = ":information_source:" if getattr(event, "level", "warning") == "info" else ":warning:"
            self.warnings.append(f"{icon} {event.message}")
        elif isinstance(event, Progress):
            self.calls = self.before.calls + event.calls
            self.tokens = self.before.tokens + event.tokens
            self._cost(self.before.cost + event.cost)
        elif isinstance(event, RunFinished):
            self.status = event.status

    def text(self) -> str:
        """The progress message in Slack mrkdwn."""
        if self.status is None:
            head = f":hourglass_flowing_sand: *Tuning `{self.task_name}`* · run `{self.run_id}`"
        else:
            icon = ":white_check_mark:" if self.status in ("finished", "budget_exhausted") else ":stop_sign:"
            head = f"{icon} *{DONE_WORDS.get(self.status, self.status)}* · run `{self.run_id}`"
        lines = [head]
        if self.status is None:
            step = PHASES.get(self.phase, self.phase)
            if self.phase_total:
                unit = "prompts" if self.phase == "propose" else "answers"
                step += f" · {min(self.phase_done, self.phase_total)}/{self.phase_total} {unit}"
            lines.append(f"*Phase:* {step}" + (f"   *Round:* {self.round}" if self.round else ""))
        if self.best is not None:
            lines.append(f"*Best so far:* {self.best.fmt()} · `{self.best_id}`")
        lines.append("*Spent:* " + self.spent())
        if self.warnings:
            lines.append(self.warnings[-1])
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def spent(self) -> str:
        calls = f"{self.calls} / {self.budget} calls" if self.budget else f"{self.calls} calls"
        parts = [calls, f"{self.tokens:,} tokens"]
        if self.cost is not None:
            parts.append(f"${self.cost:.4f}" + (f" / ${self.cost_budget:.2f}" if self.cost_budget else ""))
        return " · ".join(parts)
