"""``/tune ab <task> --strategies a,b``: the core's strategies A/B (``core.run_ab``) run in the
background like a tune, its thread showing one progress line that is edited as each tune ends,
then the table of strategies and the verdicts.

A run restarted after the bot went down starts its tunes again (the finished ones stay in the
store as ordinary runs).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from core import ABReport, ABRun, Settings, Task, run_ab

from .blocks import code, context, section
from .context import BotContext
from .ledger import ThreadRecord
from .slack_io import SlackError

Block = dict[str, Any]


def ab_title(task: str, strategies: list[str], seeds: list[int]) -> str:
    return (f"a strategies A/B of *{task}*: {', '.join(strategies)} × {len(seeds)} "
            f"seed{'' if len(seeds) == 1 else 's'}")


def table_text(report: ABReport) -> str:
    """The strategies as aligned plain-text rows (shown in a code block)."""
    rows = [("strategy", "held-out [95% CI]", "improved", "calls", "time")]
    for s in report.summaries:
        e = s.estimate
        rows.append((s.strategy, f"{e.mean:.0%} [{e.low:.0%}, {e.high:.0%}] n={e.n}",
                     f"{s.improved_runs}/{s.runs}", str(s.calls), f"{s.duration_s:.0f}s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(r, widths, strict=True))).rstrip()
                     for r in rows)


def ab_blocks(report: ABReport) -> list[Block]:
    budget = f"{report.max_calls} calls a run" if report.max_calls else "no call budget"
    seeds = ", ".join(map(str, report.seeds))
    verdicts = "\n".join(f"• {p.verdict}" for p in report.pairs)
    blocks = [
        section(f"*Strategies A/B of {report.task}* · seeds {seeds} · {budget}"),
        section(code(table_text(report))),
        section(f"*Verdicts*\n{verdicts}"),
        section(f"*Overall:* {report.overall}"),
        context("Held-out (test) scores of each run's winner; pairs compared with a paired "
                "permutation test over seeds and examples, p-values Holm-corrected. Runs: "
                + " ".join(f"`{r.run_id}`" for r in report.runs)),
    ]
    if report.warnings:
        blocks.append(context(":warning: " + " · ".join(report.warnings)))
    return blocks


class AbProgress:
    """One message in the thread, edited after each finished tune; the edits run beside the
    A/B (its callback cannot wait) and are awaited at the end."""

    def __init__(self, ctx: BotContext, channel: str, ts: str, total: int) -> None:
        self.ctx, self.channel, self.ts, self.total = ctx, channel, ts, total
        self.lines: list[str] = []
        self.pending: list[asyncio.Task[None]] = []

    def text(self) -> str:
        head = f":hourglass_flowing_sand: {len(self.lines)}/{self.total} tunes done"
        return "\n".join([head, *self.lines])

    def on_run(self, run: ABRun, done: int, total: int) -> None:
        score = (f"held-out {sum(run.scores.values()) / len(run.scores):.0%} "
                 f"(n={len(run.scores)})" if run.scores else "no held-out scores")
        self.lines.append(f"• {run.strategy}, seed {run.seed}: {score} · {run.calls} calls · "
                          f"`{run.run_id}`")
        previous = self.pending[-1] if self.pending else None
        self.pending.append(asyncio.get_running_loop().create_task(
            self._edit(self.text(), previous)))

    async def _edit(self, text: str, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:  # in order: a slow edit is never overwritten by an older one
            await asyncio.gather(previous, return_exceptions=True)
        with contextlib.suppress(SlackError):
            await self.ctx.slack.update(self.channel, self.ts, text, [section(text)])

    async def close(self) -> None:
        await asyncio.gather(*self.pending, return_exceptions=True)


async def run_flow(ctx: BotContext, record: ThreadRecord, thread: str) -> None:
    """Run the A/B asked for in ``record`` and post its table and verdicts in ``thread``."""
    req = record.request
    task = Task.model_validate(req["task"])
    settings = Settings.model_validate(req["settings"])
    strategies, seeds = list(req["strategies"]), [int(s) for s in req["seeds"]]
    progress = AbProgress(ctx, record.channel, "", len(strategies) * len(seeds))
    progress.ts = await ctx.slack.post(record.channel, progress.text(),
                                       [section(progress.text())], thread)
    try:
        report = await run_ab(task, settings, strategies, seeds, secrets=ctx.core.secrets,
                              store=ctx.store, on_run=progress.on_run)
    finally:
        await progress.close()
    await ctx.slack.post(record.channel, f"Strategies A/B of {task.name}: {report.overall}",
                         ab_blocks(report), thread)
