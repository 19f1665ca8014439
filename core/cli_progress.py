"""What ``tune`` shows while it runs: progress on a terminal, plain lines otherwise, and logging.

The engine never prints; it emits events (``core.events``) and this module renders them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from .events import (
    CandidateProposed,
    EvaluationDone,
    Event,
    ExampleScored,
    PhaseStarted,
    RoundFinished,
    RunFinished,
    RunWarning,
)


class ProgressDisplay:
    """Renders events: a live status line on a terminal, plain lines otherwise, nothing with -q."""

    def __init__(self, err: Console, *, quiet: bool = False, verbosity: int = 0,
                 log_file: Path | None = None) -> None:
        self.err = err
        self.quiet = quiet
        self.tty = err.is_terminal
        self.status: Any = None
        self.phase = ""
        self.best = ""
        self.proposed = 0

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, PhaseStarted):
            self.phase = event.phase
            detail = f": {escape(event.detail)}" if event.detail else ""
            self._line(f"[bold]{event.phase}[/]{detail}")
        elif isinstance(event, CandidateProposed):
            self.proposed += 1
            self._live(f"{self.phase}: {self.proposed} candidates so far, latest {event.candidate_id}")
        elif isinstance(event, ExampleScored):
            self._live(f"{self.phase}: {event.candidate_id} {event.done}/{event.total} answers "
                       "scored" + (f" · best so far {self.best}" if self.best else ""))
        elif isinstance(event, EvaluationDone):
            self._line(f"  {event.candidate_id}: {event.estimate.fmt()}"
                       + (" (partial)" if event.partial else ""))
        elif isinstance(event, RoundFinished):
            self.best = f"{event.best_id} {event.best.fmt()}"
            self._line(f"round {event.round}: best {self.best}")
        elif isinstance(event, RunWarning):
            label = "[yellow]warning:[/]" if event.level == "warning" else "note:"
            self._line(f"{label} {escape(event.message)}")
        elif isinstance(event, RunFinished):
            self.stop()

    def _live(self, text: str) -> None:
        if not self.tty:
            return  # plain output gets the milestones only, no control codes
        if self.status is None:
            self.status = self.err.status(text)
            self.status.start()
        else:
            self.status.update(text)

    def _line(self, text: str) -> None:
        self.err.print(text, highlight=False, soft_wrap=not self.tty)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None




def setup_logging(verbosity: int, err: Console) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(console=err, show_path=False)], force=True)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
