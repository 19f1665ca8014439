"""Background work: tunes, A/B tests and evaluations, each an asyncio task that posts into its
Slack thread and is recorded in the ledger, so a restarted bot carries on where it stopped.

A tune that was running when the bot died is finished with the core's ``resume`` (its stored
answers are replayed, no model call is paid twice) and reported in the same thread, its
progress message edited in place. A/B tests and evaluations are simply run again (the response
cache answers what they had already asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import (
    Estimate,
    Event,
    PromptTunerError,
    Settings,
    Task,
    compare_prompts,
    evaluate_prompt,
    new_run_id,
    resume,
    tune,
)

from .ab import ab_title
from .ab import run_flow as ab_flow
from .blocks import (
    comparison_blocks,
    evaluation_blocks,
    failure_text,
    parent_text,
    report_blocks,
    review_buttons,
    section,
)
from .commands import UsageError
from .context import BotContext
from .failures import cause, failure_line
from .html_report import markdown_to_html
from .ledger import ThreadRecord
from .limits import Running
from .progress import ProgressState
from .report import build_report, messages_of
from .round_blocks import enable_button
from .rounds import RoundReviews
from .slack_io import SlackError, Upload
from .updater import ProgressUpdater, read_usage

log = logging.getLogger(__name__)
FINAL_UPDATE_TIMEOUT_S = 10.0


@dataclass
class ActiveRun:
    record: ThreadRecord
    task: asyncio.Task[None]
    state: ProgressState | None = None
    cancelled_by: str | None = None


class RunManager:
    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self.active: dict[str, ActiveRun] = {}
        self.rounds = RoundReviews(ctx, self._record_of)

    def _record_of(self, run_id: str) -> ThreadRecord | None:
        active = self.active.get(run_id)
        return active.record if active is not None else None

    # -- what is running ---------------------------------------------------------------------------
    def running(self) -> list[Running]:
        return [Running(a.record.run_id, a.record.user_id, a.record.channel)
                for a in self.active.values()]

    def find_active(self, ref: str) -> list[ActiveRun]:
        return [a for rid, a in self.active.items() if rid.startswith(ref)]

    def cancel(self, run: ActiveRun, user_id: str) -> None:
        run.cancelled_by = user_id
        run.task.cancel()

    async def shutdown(self) -> None:
        """Stop every run for a restart: tunes are left 'running' in the ledger to be resumed."""
        tasks = [a.task for a in self.active.values()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- starting ----------------------------------------------------------------------------------
    def new_record(self, kind: str, *, user_id: str, channel: str, task: Task, settings: Settings,
                   budget: int, thread_ts: str | None = None, **request: Any) -> ThreadRecord:
        record = ThreadRecord(
            run_id=new_run_id(), kind=kind, channel=channel, user_id=user_id,
            task_name=task.name, budget=budget, thread_ts=thread_ts,
            request={"task": task.model_dump(mode="json"),
                     "settings": settings.model_dump(mode="json"), **request})
        self.ctx.ledger.add(record)
        return record

    def spawn(self, record: ThreadRecord, resuming: bool = False) -> ActiveRun:
        flows = {"tune": self._tune, "compare": self._compare, "evaluate": self._evaluate,
                 "ab": self._ab}
        coro: Coroutine[Any, Any, None] = flows[record.kind](record, resuming)
        task = asyncio.create_task(self._guard(record, coro), name=f"run-{record.run_id}")
        active = self.active[record.run_id] = ActiveRun(record, task)
        task.add_done_callback(lambda _: self.active.pop(record.run_id, None))
        return active

    async def resume_unfinished(self) -> int:
        """Carry on every run the ledger says was going when the bot stopped."""
        records = [r for r in self.ctx.ledger.unfinished() if r.run_id not in self.active]
        for record in records:
            log.info("resuming %s run %s in %s", record.kind, record.run_id, record.channel)
            self.spawn(record, resuming=True)
        return len(records)

    # -- the shared frame: thread, ledger status, errors ---------------------------------------------
    async def _guard(self, record: ThreadRecord, flow: Coroutine[Any, Any, None]) -> None:
        ledger = self.ctx.ledger
        try:
            try:  # the last guard: only the operator's models, also for a resumed run
                self.ctx.policy.check_settings(Settings.model_validate(record.request["settings"]))
            except BaseException:
                flow.close()
                raise
            await flow
            ledger.update(record.run_id, status="finished")
        except asyncio.CancelledError:
            active = self.active.get(record.run_id)
            if active is not None and active.cancelled_by is not None:
                ledger.update(record.run_id, status="cancelled")
            raise
        except SlackError as exc:
            ledger.update(record.run_id, status="failed")
            log.warning("run %s: could not talk to Slack (%s)", record.run_id, exc.code)
        except Exception as exc:  # an ExceptionGroup too: one line in the thread, never a traceback
            ledger.update(record.run_id, status="failed")
            if isinstance(cause(exc), (PromptTunerError, UsageError)):
                log.info("run %s stopped: %s", record.run_id, failure_line(exc))
            else:
                log.exception("run %s failed", record.run_id)
            await self._say(record, failure_text(record.run_id, failure_line(exc)))

    async def _say(self, record: ThreadRecord, text: str) -> None:
        if record.thread_ts is None:
            return
        with contextlib.suppress(SlackError):
            await self.ctx.slack.post(record.channel, text, [section(text)], record.thread_ts)

    async def _ensure_thread(self, record: ThreadRecord, what: str) -> str:
        if record.thread_ts is None:
            text = parent_text(record.user_id, what, record.run_id)
            blocks = [section(text)]
            if record.kind == "tune" and not record.request.get("review_rounds"):
                blocks.append(enable_button(record.run_id))
            record.thread_ts = await self.ctx.slack.post(record.channel, text, blocks)
            self.ctx.ledger.update(record.run_id, thread_ts=record.thread_ts, status="running")
        return record.thread_ts

    # -- tune ----------------------------------------------------------------------------------------
    async def _tune(self, record: ThreadRecord, resuming: bool) -> None:
        ctx = self.ctx
        task = Task.model_validate(record.request["task"])
        settings = Settings.model_validate(record.request["settings"])
        reviewed = " with a review after each round" if record.request.get("review_rounds") else ""
        thread = await self._ensure_thread(record, f"tuning *{task.name}*{reviewed}")
        if resuming and record.report_posted:
            return
        state = ProgressState(record.run_id, task.name, settings.budget.max_calls,
                              cost_budget=settings.budget.max_cost)
        if record.progress_ts is None:
            record.progress_ts = await ctx.slack.post(record.channel, state.text(),
                                                      [section(state.text())], thread)
            ctx.ledger.update(record.run_id, progress_ts=record.progress_ts, status="running")
        self.active[record.run_id].state = state
        updater = ProgressUpdater(ctx.slack, record.channel, record.progress_ts, state,
                                  ctx.settings.progress_interval_s,
                                  refresh=lambda s: read_usage(ctx.store, settings, s))

        def on_event(event: Event) -> None:
            state.apply(event)
            updater.poke()

        updater.start()
        try:
            result = await self._tune_or_resume(record, task, settings, resuming, state, on_event)
        except asyncio.CancelledError:
            await self._final_progress(record, state, updater)
            raise
        except BaseException:
            state.status = "failed"
            await self._final_progress(record, state, updater)
            raise
        await updater.stop()
        await self.post_report(record, result)

    async def _tune_or_resume(self, record: ThreadRecord, task: Task, settings: Settings,
                              resuming: bool, state: ProgressState,
                              on_event: Any) -> dict[str, Any]:
        ctx = self.ctx
        secrets = ctx.core.secrets
        stored = _core_run(ctx, record.run_id)
        if stored is not None and stored["status"] in ("finished", "budget_exhausted"):
            result: dict[str, Any] = _json(stored["result_json"])
            return result  # it ended while the bot was down before the report went out
        if stored is not None:
            state.note = ":arrows_counterclockwise: Resumed after a bot restart from the saved answers."
            done = await resume(record.run_id, settings, secrets=secrets, on_event=on_event,
                                store=ctx.store, reviewer=self.rounds.reviewer_for(record))
        else:
            if resuming:
                state.note = ":arrows_counterclockwise: Restarted after a bot restart."
            done = await tune(task, settings, secrets=secrets, on_event=on_event,
                              run_id=record.run_id, store=ctx.store,
                              reviewer=self.rounds.reviewer_for(record))
        return done.to_json()

    async def _final_progress(self, record: ThreadRecord, state: ProgressState,
                              updater: ProgressUpdater) -> None:
        active = self.active.get(record.run_id)
        if state.status is None:
            if active is not None and active.cancelled_by is not None:
                state.status = "cancelled"
                state.note = f"Cancelled by <@{active.cancelled_by}>; what it measured is kept."
            else:
                state.status = "restarting"
                state.note = "The bot is restarting; this run carries on when it is back."
        with contextlib.suppress(Exception):
            await asyncio.wait_for(updater.stop(), FINAL_UPDATE_TIMEOUT_S)

    async def post_report(self, record: ThreadRecord, result: dict[str, Any]) -> None:
        ctx = self.ctx
        assert record.thread_ts is not None
        data = build_report(result, ctx.store, ctx.settings.top_candidates)
        await ctx.slack.post(record.channel, data.summary(), report_blocks(data), record.thread_ts)
        ctx.ledger.update(record.run_id, report_posted=True)
        record.report_posted = True
        files = report_files(data.report_path, record.run_id, data.task_name)
        if files:
            try:
                await ctx.slack.upload(record.channel, record.thread_ts, files,
                                       comment=f"Full report of run `{record.run_id}`")
            except SlackError as exc:
                await self._say(record, f"I could not upload the report file ({exc.code}); it "
                                f"is on the bot's disk at `{data.report_path}`.")

    # -- A/B test ------------------------------------------------------------------------------------
    async def _compare(self, record: ThreadRecord, resuming: bool) -> None:
        req = record.request
        task = Task.model_validate(req["task"])
        settings = Settings.model_validate(req["settings"])
        a, b = req["a"], req["b"]
        thread = await self._ensure_thread(
            record, f"an A/B test of *{task.name}*: {a['name']} vs {b['name']}")
        self.ctx.ledger.update(record.run_id, status="running")
        if not resuming:
            await self.ctx.slack.post(record.channel, "Running the A/B test…",
                                      [section(f":hourglass_flowing_sand: Comparing {a['name']} "
                                               f"and {b['name']} on the same examples…")], thread)
        report = await compare_prompts(task, settings, [(a["name"], messages_of(a["messages"])),
                                                        (b["name"], messages_of(b["messages"]))],
                                       secrets=self.ctx.core.secrets)
        m = report.matchups[0]
        blocks = comparison_blocks(req.get("title") or f"A/B test of {task.name}", a["name"],
                                   report.reports[0].aggregate, b["name"],
                                   report.reports[1].aggregate, m.overall, m.verdict)
        review = req.get("review")
        if review:
            blocks.append(review_buttons(review["run"], review["cand"], evaluate=True, edit=False))
        text = f"A/B test of {task.name}: {m.verdict} (p={m.overall.p_value:.3g})"
        await self.ctx.slack.post(record.channel, text, blocks, thread)

    # -- strategies A/B (slack_bot/ab.py) -------------------------------------------------------------
    async def _ab(self, record: ThreadRecord, resuming: bool) -> None:
        req = record.request
        thread = await self._ensure_thread(
            record, ab_title(record.task_name, req["strategies"], req["seeds"]))
        self.ctx.ledger.update(record.run_id, status="running")
        await ab_flow(self.ctx, record, thread)

    # -- evaluation on more examples ---------------------------------------------------------------------
    async def _evaluate(self, record: ThreadRecord, resuming: bool) -> None:
        req = record.request
        task = Task.model_validate(req["task"])
        settings = Settings.model_validate(req["settings"])
        thread = await self._ensure_thread(record, f"an evaluation of `{req['cand']}`")
        self.ctx.ledger.update(record.run_id, status="running")
        report = await evaluate_prompt(task, settings, secrets=self.ctx.core.secrets,
                                       prompt=messages_of(req["messages"]))
        before = Estimate(**req["before"]) if req.get("before") else None
        blocks = evaluation_blocks(req["cand"], report.aggregate, before, report.n, report.outcomes)
        await self.ctx.slack.post(record.channel,
                                  f"{req['cand']} on {report.n} examples: {report.aggregate.fmt()}",
                                  blocks, thread)


def _json(text: str | None) -> Any:
    return json.loads(text or "null")


def _core_run(ctx: BotContext, run_id: str) -> dict[str, Any] | None:
    try:
        return ctx.store.get_run(run_id)
    except PromptTunerError:
        return None


def report_files(report_path: str, run_id: str, task_name: str) -> list[Upload]:
    path = Path(report_path) if report_path else None
    if path is None or not path.is_file():
        return []
    markdown = path.read_text(encoding="utf-8")
    charts = path.with_name("report.html")  # the core's report with charts, when it wrote one
    if charts.is_file():
        page = charts.read_text(encoding="utf-8")
    else:  # a run from before the HTML report: its Markdown, rendered
        page = markdown_to_html(markdown, f"prompt-tuner report: {task_name} ({run_id})")
    return [Upload(f"report-{run_id}.html", page, "Report (HTML)"),
            Upload(f"report-{run_id}.md", markdown, "Report (Markdown)")]
