"""``tune --interactive``: review each round's candidates in the terminal."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from .review import RoundDecision, RoundReview


class TerminalReviewer:
    def __init__(self, console: Console, *, pause: Callable[[], None] | None = None) -> None:
        self.console = console
        self.pause = pause

    def __call__(self, review: RoundReview) -> RoundDecision:
        raise NotImplementedError
