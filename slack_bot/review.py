"""Team review in the thread: Approve / Reject / Evaluate on more examples / Edit on each
candidate. Every verdict (who, when, verdict, comment) is written to the core's store as a
review of that prompt version; an edit is saved as a new version whose parent is the edited
candidate, then A/B tested against the task's original prompt in the same thread."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from core import Candidate, Estimate, PromptTunerError, Settings, Task, parse_prompt_text

from .blocks import (
    COMMENT_BLOCK,
    COMMENT_INPUT,
    EDIT_BLOCK,
    edit_modal,
    edited_text,
    review_text,
    section,
)
from .commands import UsageError
from .context import BotContext
from .limits import DAY_S, check_access, check_capacity
from .report import CandidateLine, messages_of
from .runs import RunManager
from .slack_io import SlackError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """The candidate a button or a modal is about, and where its thread is."""

    run_id: str
    candidate_id: str
    task_name: str
    channel: str
    thread_ts: str


class Reviews:
    def __init__(self, ctx: BotContext, runs: RunManager) -> None:
        self.ctx = ctx
        self.runs = runs

    # -- reading a click -------------------------------------------------------------------------
    def _target(self, body: dict[str, Any]) -> Target:
        action = body["actions"][0]
        value = json.loads(action["value"])
        message = body.get("message") or {}
        container = body.get("container") or {}
        thread = (message.get("thread_ts") or container.get("thread_ts") or message.get("ts")
                  or container.get("message_ts"))
        run = self.ctx.store.get_run(value["run"])
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        return Target(value["run"], value["cand"], run["task_name"], str(channel), str(thread))

    def _first_click(self, body: dict[str, Any]) -> bool:
        action = body["actions"][0]
        key = f"action:{body['user']['id']}:{action.get('action_ts') or action.get('value')}"
        return self.ctx.ledger.claim(key)

    def _candidate(self, t: Target) -> CandidateLine:
        row = self.ctx.store.version(t.task_name, t.candidate_id)
        est = None
        for c in self.ctx.store.candidates(t.run_id):
            if c["id"] == t.candidate_id and c.get("n"):
                est = Estimate(c["score"], c["ci_low"], c["ci_high"], c["n"])
        return CandidateLine(row["id"], row.get("operator") or "", est or Estimate(0, 0, 1, 0),
                             False, messages_of(row["messages_json"]))

    def _refused(self, body: dict[str, Any], t: Target) -> str | None:
        return check_access(self.ctx.settings.limits, body["user"]["id"], t.channel,
                            self.ctx.command)

    async def _tell(self, t: Target, user_id: str, text: str) -> None:
        with contextlib.suppress(SlackError):
            await self.ctx.slack.ephemeral(t.channel, user_id, text, t.thread_ts)

    # -- Approve / Reject -------------------------------------------------------------------------
    async def on_verdict(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        if not self._first_click(body):
            return
        user = body["user"]["id"]
        verdict = "approve" if body["actions"][0]["action_id"].endswith("approve") else "reject"
        try:
            t = self._target(body)
            refusal = self._refused(body, t)
            if refusal:
                await self._tell(t, user, f":no_entry: {refusal}")
                return
            version = self.ctx.store.version(t.task_name, t.candidate_id)
            self.ctx.store.add_review(
                t.task_name, version["id"], reviewer=user, verdict=verdict, run_id=t.run_id,
                source="slack", meta=_meta(body, t))
            text = review_text(user, verdict, version["id"], version.get("version"))
            await self.ctx.slack.post(t.channel, text, [section(text)], t.thread_ts)
        except (PromptTunerError, SlackError, KeyError, ValueError) as exc:
            log.warning("review click failed: %s", exc)

    # -- Evaluate on more examples -----------------------------------------------------------------
    async def on_evaluate(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        if not self._first_click(body):
            return
        user = body["user"]["id"]
        try:
            t = self._target(body)
        except (PromptTunerError, KeyError, ValueError) as exc:
            log.warning("evaluate click failed: %s", exc)
            return
        try:
            problem = self._refused(body, t) or self._evaluate(t, user)
        except (PromptTunerError, UsageError) as exc:
            problem = f":warning: {exc}"
        if problem:
            await self._tell(t, user, problem)

    def _evaluate(self, t: Target, user: str) -> str | None:
        """Start the evaluation; a line for the person when it cannot start."""
        run = self.ctx.store.get_run(t.run_id)
        task = Task.model_validate_json(run["task_json"])
        if not task.examples:
            return (":information_source: This task came from the quick form and has no "
                    "examples to evaluate on. Write a task file with examples to measure more.")
        cand = self._candidate(t)
        try:
            settings = self._settings(run)
        except UsageError as exc:
            return f":no_entry: {exc}"
        refusal = self._capacity(user, t.channel, settings.budget.max_calls or 0)
        if refusal:
            return f":no_entry: {refusal}"
        before = cand.estimate if cand.estimate.n else None
        record = self.runs.new_record(
            "evaluate", user_id=user, channel=t.channel, task=task, settings=settings,
            budget=settings.budget.max_calls or 0, thread_ts=t.thread_ts, cand=cand.id,
            messages=[{"role": m.role, "content": m.content} for m in cand.messages],
            before=before.__dict__ if before is not None else None)
        self.runs.spawn(record)
        return None

    def _settings(self, run: dict[str, Any]) -> Settings:
        """The run's own settings (same models), with the bot's per-run budget; UsageError when
        its models are not all the operator's (a run another front stored, say)."""
        saved = Settings.model_validate_json(run["settings_json"])
        self.ctx.policy.check_settings(saved)
        cap = self.ctx.settings.limits.calls_per_run
        return saved.model_copy(update={"budget": saved.budget.model_copy(update={"max_calls": cap})})

    def _capacity(self, user: str, channel: str, budget: int) -> str | None:
        since = time.time() - DAY_S
        ledger = self.ctx.ledger
        return check_capacity(self.ctx.settings.limits, user_id=user, channel=channel,
                              running=self.runs.running(), budget=budget,
                              user_reserved=ledger.reserved_calls(since, user_id=user),
                              channel_reserved=ledger.reserved_calls(since, channel=channel),
                              command=self.ctx.command)

    # -- Edit: the modal and its submission ---------------------------------------------------------
    async def on_edit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        try:
            t = self._target(body)
            refusal = self._refused(body, t)
            if refusal:
                await self._tell(t, body["user"]["id"], f":no_entry: {refusal}")
                return
            cand = self._candidate(t)
            view = edit_modal(t.run_id, cand.id, cand.text(), t.channel, t.thread_ts,
                              self.ctx.settings.limits.max_prompt_chars)
            await self.ctx.slack.open_view(body["trigger_id"], view)
        except (PromptTunerError, SlackError, KeyError, ValueError) as exc:
            log.warning("edit click failed: %s", exc)

    async def on_edit_submit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            await self._edit_submitted(ack, body)
        except (PromptTunerError, KeyError, ValueError) as exc:
            log.warning("edit submission failed: %s", exc)
            if not ack.response:
                await ack(response_action="errors",
                          errors={EDIT_BLOCK: "The bot could not save this edit; try again."})

    async def _edit_submitted(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body["view"]
        meta = json.loads(view["private_metadata"])
        values = view["state"]["values"]
        text = edited_text(values, [str(j) for j in meta.get("joins", [])]).strip()
        comment = (values.get(COMMENT_BLOCK, {}).get(COMMENT_INPUT, {}).get("value") or "").strip()
        user = body["user"]["id"]
        run = self.ctx.store.get_run(meta["run"])
        task = Task.model_validate_json(run["task_json"])
        t = Target(meta["run"], meta["cand"], run["task_name"], meta["channel"], meta["thread_ts"])
        problem = self._edit_problem(text, task, t)
        if problem:
            await ack(response_action="errors", errors={EDIT_BLOCK: problem})
            return
        await ack()
        if not self.ctx.ledger.claim(f"view:{view['id']}"):
            return
        messages = parse_prompt_text(text)
        edited = Candidate(messages)
        store = self.ctx.store
        store.save_version(t.task_name, messages=[{"role": m.role, "content": m.content}
                                                  for m in messages],
                           candidate_id=edited.id, parents=[t.candidate_id], author=user,
                           note=comment)
        store.add_review(t.task_name, edited.id, reviewer=user, verdict="edit", comment=comment,
                         run_id=t.run_id, source="slack",
                         meta={**_meta(body, t), "parent": t.candidate_id})
        number = store.version(t.task_name, edited.id)["version"]
        note = f"<@{user}> edited `{t.candidate_id}` into `{edited.id}` (v{number})"
        note += f": {comment}" if comment else ""
        started = self._ab_test(task, t, edited, number, user)
        note += "\nA/B testing it against the original prompt…" if started is None else f"\n{started}"
        with contextlib.suppress(SlackError):
            await self.ctx.slack.post(t.channel, note, [section(note)], t.thread_ts)

    def _edit_problem(self, text: str, task: Task, t: Target) -> str | None:
        limit = self.ctx.settings.limits.max_prompt_chars
        if not text:
            return "The prompt is empty: write the prompt you want to try."
        if len(text) > limit:
            return f"The prompt is {len(text):,} characters; the limit is {limit:,}."
        messages = parse_prompt_text(text)
        if Candidate(messages).id == t.candidate_id:
            return "This is the candidate unchanged: edit it, or press Cancel."
        try:
            slots = task.model_copy(update={"messages": messages}).slots()
        except PromptTunerError as exc:
            return f"The prompt's template does not parse: {exc}"
        have = set(task.examples[0].inputs) if task.examples else set()
        missing = sorted(slots - have)
        if missing:
            fields = ", ".join(f"`{{{{ {n} }}}}`" for n in sorted(have)) or "none (no examples)"
            return f"No example has a field `{missing[0]}` for the slot. Slots you can use: {fields}."
        return None

    def _ab_test(self, task: Task, t: Target, edited: Candidate, number: int,
                 user: str) -> str | None:
        """Start the A/B test of the edit against the task's prompt; a note when it cannot."""
        if not task.examples:
            return ("Saved. This task came from the quick form and has no examples, so the edit "
                    "cannot be A/B tested here.")
        run = self.ctx.store.get_run(t.run_id)
        try:
            settings = self._settings(run)
        except UsageError as exc:
            return f"Saved, but not tested: {exc}"
        refusal = self._capacity(user, t.channel, settings.budget.max_calls or 0)
        if refusal:
            return f"Saved, but not tested now: {refusal}"
        original = Candidate(task.messages)
        label_a, label_b = f"original `{original.id}`", f"edit v{number} `{edited.id}`"
        record = self.runs.new_record(
            "compare", user_id=user, channel=t.channel, task=task, settings=settings,
            budget=settings.budget.max_calls or 0, thread_ts=t.thread_ts,
            title=f"A/B test: {label_b} vs the {label_a}",
            a={"name": label_a, "messages": [{"role": m.role, "content": m.content}
                                             for m in task.messages]},
            b={"name": label_b, "messages": [{"role": m.role, "content": m.content}
                                             for m in edited.messages]},
            review={"run": t.run_id, "cand": edited.id})
        self.runs.spawn(record)
        return None


def _meta(body: dict[str, Any], t: Target) -> dict[str, Any]:
    user = body.get("user") or {}
    return {"channel": t.channel, "thread_ts": t.thread_ts,
            "user_name": user.get("username") or user.get("name") or "",
            "team": (body.get("team") or {}).get("id", "")}
