"""Keeps one progress message up to date at a rate Slack allows: the run's events only mark the
state dirty; a small loop edits the message (``chat.update``) at most once per interval, and a
final edit goes out when the run ends. Slack answers too many edits with 429, which the SDK's
retry handler waits out; a failed edit is logged and the next one carries the newer state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from core import PromptTunerError, Settings, Store, load_run

from .blocks import section
from .progress import ProgressState, Spent
from .slack_io import SlackError, SlackIO

log = logging.getLogger(__name__)


def spent_before(store: Store, run_id: str) -> Spent:
    """What the store says the run has spent so far (the core's ``load_run``): nothing for a run
    not started yet; a resumed run's earlier legs; all of a run that finished while the bot was
    down. An unfinished run's cost is the one its last round recorded (the store keeps no cost
    per answer)."""
    try:
        view = load_run(store, run_id)
    except PromptTunerError:
        return Spent()
    totals = view.totals
    cost = float(totals["cost"]) or (view.rounds[-1].cost if view.rounds else 0.0)
    return Spent(int(totals["calls"]), int(totals["prompt_tokens"]) + int(totals["completion_tokens"]),
                 cost)


def read_usage(store: Store, settings: Settings, state: ProgressState) -> None:
    """``state`` carries on from what the run had spent before (``spent_before``); the engine's
    ``Progress`` events add this leg's spend. ``settings``: unused (the engine prices the calls)."""
    del settings
    state.carry(spent_before(store, state.run_id))


class ProgressUpdater:
    """``refresh``: called once, as the updater starts (before the run's first event), to fill in
    what the run had spent before this leg (``read_usage``)."""

    def __init__(self, slack: SlackIO, channel: str, ts: str, state: ProgressState,
                 interval_s: float, refresh: Callable[[ProgressState], None] | None = None) -> None:
        self.slack = slack
        self.channel = channel
        self.ts = ts
        self.state = state
        self.interval_s = interval_s
        self.refresh = refresh
        self._dirty = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.updates = 0

    def poke(self) -> None:
        self._dirty.set()

    def start(self) -> None:
        if self.refresh is not None:
            try:
                self.refresh(self.state)
            except Exception:  # the store being busy must not stop the run's progress
                log.warning("could not read usage for run %s", self.state.run_id, exc_info=True)
        self._loop_task = asyncio.create_task(self._loop(), name=f"progress-{self.state.run_id}")

    async def _loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self.push()
            await asyncio.sleep(self.interval_s)

    async def push(self) -> None:
        text = self.state.text()
        try:
            await self.slack.update(self.channel, self.ts, text, [section(text)])
            self.updates += 1
        except SlackError:
            pass  # logged by SlackIO; the next update carries the newer state

    async def stop(self) -> None:
        """Stop the loop and send the final state now."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        await self.push()
