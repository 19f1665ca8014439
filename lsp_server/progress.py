"""The core's run events as work-done progress: one begin, reports as phases and examples
advance (at most every 100 ms, and at every phase change), one end."""

from __future__ import annotations

import time

from lsprotocol import types as lsp
from pygls.progress import Progress

from core import Event, ExampleScored, Phase, PhaseStarted, RoundFinished, RunWarning

# Each phase's share of the bar: (start %, end %).
PHASES: dict[Phase, tuple[int, int]] = {"baseline": (0, 15), "propose": (15, 20),
                                        "evaluate": (20, 80), "confirm": (80, 95),
                                        "finalize": (95, 100)}
MIN_INTERVAL_S = 0.1


class RunProgress:
    """``progress`` None: the client shows no work-done progress, and nothing is sent."""

    def __init__(self, progress: Progress | None, token: str) -> None:
        self.progress = progress
        self.token = token
        self.phase: Phase = "baseline"
        self.round: int | None = None
        self.detail = ""
        self.best = ""
        self.last = 0.0
        self.percent = 0
        self.scored = 0
        self.phase_total: int | None = None

    def begin(self, title: str, message: str) -> None:
        if self.progress is None:
            return
        self.progress.begin(self.token, lsp.WorkDoneProgressBegin(
            title=title, message=message, percentage=0, cancellable=True))

    def end(self, message: str) -> None:
        if self.progress is None:
            return
        self.progress.end(self.token, lsp.WorkDoneProgressEnd(message=message))

    def report(self, message: str, percent: int | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress is None or (not force and now - self.last < MIN_INTERVAL_S):
            return
        self.last = now
        if percent is not None:
            self.percent = max(self.percent, min(100, percent))
        self.progress.report(self.token, lsp.WorkDoneProgressReport(
            message=message, percentage=self.percent, cancellable=True))

    def on_event(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self.phase, self.round = event.phase, event.round
            self.detail = event.detail or event.phase
            self.scored = 0
            self.phase_total = event.total if event.phase != "propose" else None
            self.report(self._message(), PHASES.get(event.phase, (self.percent, 0))[0], force=True)
        elif isinstance(event, ExampleScored) and event.total:
            low, high = PHASES.get(self.phase, (self.percent, self.percent))
            self.scored += 1
            if self.phase_total:
                done, total = self.scored, self.phase_total
            else:
                done, total = event.done, event.total
            share = min(1.0, done / total)
            self.report(f"{self._message()}: {done}/{total} answers scored",
                        int(low + (high - low) * share))
        elif isinstance(event, RoundFinished):
            self.best = f"best so far {event.best.mean:.0%}"
            self.report(self._message(), force=True)
        elif isinstance(event, RunWarning):
            self.report(event.message, force=True)

    def _message(self) -> str:
        where = f"round {self.round} · {self.phase}" if self.round else self.phase
        return f"{where}: {self.detail}" + (f" ({self.best})" if self.best else "")
