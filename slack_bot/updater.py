"""Keeps one progress message up to date at a rate Slack allows: the run's events only mark the
state dirty; a small loop edits the message (``chat.update``) at most once per interval, and a
final edit goes out when the run ends. Slack answers too many edits with 429, which the SDK's
retry handler waits out; a failed edit is logged and the next one carries the newer state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from core import Settings, Store

from .blocks import section
from .progress import ProgressState
from .slack_io import SlackError, SlackIO

log = logging.getLogger(__name__)


def model_name(spec: str) -> str:
    """``openai:gpt-4o-mini@http://…`` → ``gpt-4o-mini`` (the key of the price table)."""
    return spec.split(":", 1)[-1].split("@", 1)[0]


def read_usage(store: Store, settings: Settings, state: ProgressState) -> None:
    """Calls, tokens and cost so far, from the answers the run has stored."""
    rows = store.responses(state.run_id)
    state.calls = len(rows)
    state.tokens = sum((r["prompt_tokens"] or 0) + (r["completion_tokens"] or 0) for r in rows)
    if settings.prices:
        cost = 0.0
        for r in rows:
            price = settings.prices.get(model_name(r["model"] or ""))
            if price is not None:
                cost += ((r["prompt_tokens"] or 0) * price.input_per_mtok
                         + (r["completion_tokens"] or 0) * price.output_per_mtok) / 1e6
        state.cost = cost


class ProgressUpdater:
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
        self._loop_task = asyncio.create_task(self._loop(), name=f"progress-{self.state.run_id}")

    async def _loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self.push()
            await asyncio.sleep(self.interval_s)

    async def push(self) -> None:
        if self.refresh is not None:
            try:
                self.refresh(self.state)
            except Exception:  # the store being busy must not stop the run's progress
                log.warning("could not read usage for run %s", self.state.run_id, exc_info=True)
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
