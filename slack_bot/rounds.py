"""Team review through the rounds. A run started with ``/tune … --review`` (or whose first
message's "Review each round" button was pressed) stops after each round and posts the round's
ranked candidates in its thread; the team drops or keeps candidates, edits one or adds a prompt
(scored on the dev examples at once, then the round is shown again), and presses Continue or
Stop here. Without a decision within ``round_review_timeout_s`` the run goes on with what was
marked. Who may decide: the configured ``round_reviewers``, else anyone the bot serves in the
run's channel.

Every click is written to the core's store as a review (who, when, what, the round); the core
stores each round's decision with the run, so a restarted bot resumes the run with the decisions
on record (``core.resume`` replays them) and asks only about the round that was open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from core import PromptTunerError, RoundDecision, RoundReview, prompt_slots

from .blocks import section
from .context import BotContext
from .ledger import ThreadRecord
from .limits import check_access
from .round_blocks import (
    PROMPT_BLOCK,
    PROMPT_INPUT,
    ROUND_ADD_CALLBACK,
    ROUND_EDIT_CALLBACK,
    decision_text,
    prompt_modal,
    round_blocks,
)
from .slack_io import SlackError

log = logging.getLogger(__name__)
Decided = tuple[RoundDecision, str | None]  # the decision and who took it (None: time ran out)


@dataclass
class Pending:
    """A round waiting for the team: its message, what is marked so far, and the answer."""

    record: ThreadRecord
    review: RoundReview
    message_ts: str
    deadline: float
    answer: asyncio.Future[Decided]
    dropped: dict[str, str] = field(default_factory=dict)  # candidate id -> who dropped it

    def decide(self, user: str | None, **more: Any) -> bool:
        if self.answer.done():
            return False
        self.answer.set_result((RoundDecision(drop=list(self.dropped), **more), user))
        return True


class RoundReviews:
    def __init__(self, ctx: BotContext, active: Callable[[str], ThreadRecord | None]) -> None:
        self.ctx = ctx
        self.active = active                   # the record of a run this bot is running
        self.pending: dict[str, Pending] = {}  # by run id: at most one open round a run

    # -- the core's side: a reviewer for one run -------------------------------------------------
    def reviewer_for(self, record: ThreadRecord) -> Any:
        async def review(round_review: RoundReview) -> RoundDecision:
            if not record.request.get("review_rounds"):
                return RoundDecision()
            return await self.ask(record, round_review)
        return review

    async def ask(self, record: ThreadRecord, review: RoundReview) -> RoundDecision:
        """Post the round, wait for the team (or the deadline), and say what was decided."""
        assert record.thread_ts is not None
        timeout = self.ctx.settings.round_review_timeout_s
        deadline = time.time() + timeout
        text = f"Round {review.round} of run {review.run_id}: your review"
        blocks = round_blocks(review, dropped={}, deciders=self.deciders, deadline=deadline)
        try:
            ts = await self.ctx.slack.post(record.channel, text, blocks, record.thread_ts)
        except SlackError as exc:  # nobody can see the round: it goes on as if accepted
            log.warning("run %s round %d: could not post the review (%s); going on",
                        record.run_id, review.round, exc.code)
            return RoundDecision()
        pending = Pending(record, review, ts, deadline, asyncio.get_running_loop().create_future())
        self.pending[record.run_id] = pending
        try:
            decision, user = await asyncio.wait_for(asyncio.shield(pending.answer), timeout)
        except TimeoutError:
            decision, user = RoundDecision(drop=list(pending.dropped)), None
        finally:
            self.pending.pop(record.run_id, None)
        closed = decision_text(decision, user)
        with contextlib.suppress(SlackError):
            await self.ctx.slack.update(record.channel, ts, text, round_blocks(
                review, dropped=pending.dropped, deciders=self.deciders, deadline=deadline,
                closed=closed))
        log.info("run %s round %d: %s", record.run_id, review.round, decision.to_json())
        return decision

    @property
    def deciders(self) -> list[str]:
        return list(self.ctx.settings.round_reviewers)

    # -- Slack's side: the buttons and the modals --------------------------------------------------
    def _open(self, body: dict[str, Any]) -> tuple[Pending, str, dict[str, Any]] | str:
        """The open round a click is about, who clicked and the button's value; or why not."""
        user = body["user"]["id"]
        value = json.loads(body["actions"][0]["value"])
        pending = self.pending.get(str(value.get("run")))
        container = body.get("container") or {}
        if (pending is None or pending.review.round != value.get("round")
                or container.get("message_ts", pending.message_ts) != pending.message_ts):
            return "This round's review is closed: the run has moved on."
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        refusal = self._refused(user, str(channel), pending)
        return refusal if refusal else (pending, user, value)

    def _refused(self, user: str, channel: str, pending: Pending) -> str | None:
        if channel != pending.record.channel:
            return "Decide on a run's rounds in its own thread."
        if self.deciders and user not in self.deciders:
            return ("Only " + ", ".join(f"<@{u}>" for u in self.deciders)
                    + " decide on the rounds of this bot's runs.")
        return check_access(self.ctx.settings.limits, user, channel, self.ctx.command)

    def _first(self, body: dict[str, Any]) -> bool:
        action = body["actions"][0]
        return self.ctx.ledger.claim(f"round:{body['user']['id']}:{action.get('action_ts')}")

    async def _tell(self, body: dict[str, Any], text: str) -> None:
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        with contextlib.suppress(SlackError):
            await self.ctx.slack.ephemeral(str(channel), body["user"]["id"], f":no_entry: {text}",
                                           container.get("thread_ts"))

    def _record(self, pending: Pending, candidate_id: str, user: str, verdict: str,
                comment: str = "", **meta: Any) -> None:
        """Who decided what, and when, as a review in the core's store."""
        self.ctx.store.add_review(
            pending.record.task_name, candidate_id, reviewer=user, verdict=verdict,
            comment=comment, run_id=pending.record.run_id, source="slack",
            meta={"round": pending.review.round, "channel": pending.record.channel,
                  "thread_ts": pending.record.thread_ts, **meta})

    async def _redraw(self, pending: Pending) -> None:
        with contextlib.suppress(SlackError):
            await self.ctx.slack.update(
                pending.record.channel, pending.message_ts,
                f"Round {pending.review.round} of run {pending.review.run_id}: your review",
                round_blocks(pending.review, dropped=pending.dropped, deciders=self.deciders,
                             deadline=pending.deadline))

    async def _clicked(self, ack: AsyncAck, body: dict[str, Any], *, once: bool = True,
                       ) -> tuple[Pending, str, dict[str, Any]] | None:
        """Acknowledge a click; the open round, who clicked and the button's value, or None
        (a repeated delivery, or a click the person is told why it does nothing)."""
        await ack()
        if once and not self._first(body):
            return None
        got = self._open(body)
        if isinstance(got, str):
            await self._tell(body, got)
            return None
        return got

    async def on_mark(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Drop or Keep on a candidate: marked on the message, carried out on Continue."""
        got = await self._clicked(ack, body)
        if got is None:
            return
        pending, user, value = got
        cid = str(value.get("cand"))
        entry = next((e for e in pending.review.entries if e.id == cid), None)
        if entry is None or entry.is_original:
            await self._tell(body, "The original prompt stays: every candidate is compared with it.")
            return
        drop = body["actions"][0]["action_id"] == "round_drop"
        if drop:
            pending.dropped[cid] = user
        else:
            pending.dropped.pop(cid, None)
        self._record(pending, cid, user, "drop" if drop else "keep")
        await self._redraw(pending)

    async def on_decide(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Continue or Stop here: the round's decision, with what is marked."""
        got = await self._clicked(ack, body)
        if got is None:
            return
        pending, user, _ = got
        stop = body["actions"][0]["action_id"] == "round_stop"
        if pending.decide(user, stop=stop):
            self._record(pending, pending.review.best_id, user, "stop" if stop else "continue",
                         dropped=list(pending.dropped))

    async def on_prompt(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Edit (a candidate's main message) or Add a prompt: the modal."""
        got = await self._clicked(ack, body, once=False)
        if got is None:
            return
        pending, _, value = got
        cid = str(value.get("cand") or "")
        entry = next((e for e in pending.review.entries if e.id == cid), None)
        if body["actions"][0]["action_id"] == "round_edit" and entry is not None:
            view = prompt_modal(ROUND_EDIT_CALLBACK, pending.review, entry.id, entry.main,
                                self.ctx.settings.limits.max_prompt_chars)
        else:
            view = prompt_modal(ROUND_ADD_CALLBACK, pending.review, "", "",
                                self.ctx.settings.limits.max_prompt_chars)
        with contextlib.suppress(SlackError):
            await self.ctx.slack.open_view(body["trigger_id"], view)

    async def on_prompt_submit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body["view"]
        meta = json.loads(view["private_metadata"])
        text = (((view["state"]["values"].get(PROMPT_BLOCK) or {}).get(PROMPT_INPUT) or {})
                .get("value") or "").strip()
        user = body["user"]["id"]
        pending = self.pending.get(str(meta.get("run")))
        if pending is None or pending.review.round != meta.get("round"):
            await ack(response_action="errors",
                      errors={PROMPT_BLOCK: "This round's review is closed: the run has moved on."})
            return
        problem = (self._refused(user, pending.record.channel, pending)
                   or self._prompt_problem(text, pending))
        if problem:
            await ack(response_action="errors", errors={PROMPT_BLOCK: problem})
            return
        await ack()
        if not self.ctx.ledger.claim(f"view:{view['id']}"):
            return
        if view["callback_id"] == ROUND_EDIT_CALLBACK:
            cid = str(meta["cand"])
            if pending.decide(user, edits=[(cid, text)]):
                self._record(pending, cid, user, "edit", prompt=text)
        elif pending.decide(user, add=[text]):
            self._record(pending, pending.review.best_id, user, "add", prompt=text)
        what = f"edited `{meta['cand']}`" if meta.get("cand") else "added a prompt"
        note = f"<@{user}> {what}: scoring it on the dev examples…"
        with contextlib.suppress(SlackError):
            await self.ctx.slack.post(pending.record.channel, note, [section(note)],
                                      pending.record.thread_ts)

    def _prompt_problem(self, text: str, pending: Pending) -> str | None:
        limit = self.ctx.settings.limits.max_prompt_chars
        if not text:
            return "The prompt is empty."
        if len(text) > limit:
            return f"The prompt is {len(text):,} characters; the limit is {limit:,}."
        try:
            slots = prompt_slots(text)
        except PromptTunerError as exc:
            return f"The prompt's template does not parse: {exc}"
        unknown = sorted(slots - set(pending.review.inputs))
        if unknown:
            have = ", ".join(f"{{{{ {s} }}}}" for s in pending.review.inputs) or "none"
            return f"No example fills {{{{ {unknown[0]} }}}}; the examples fill: {have}."
        return None

    # -- the first message's button: review from the next round on --------------------------------
    async def on_enable(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        record = self.active(str(json.loads(body["actions"][0]["value"]).get("run")))
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id"))
        if record is None:
            await self._tell(body, "This run has ended.")
            return
        refusal = (("Only " + ", ".join(f"<@{u}>" for u in self.deciders) + " turn on round "
                    "review.") if self.deciders and user not in self.deciders
                   else check_access(self.ctx.settings.limits, user, channel, self.ctx.command))
        if refusal or channel != record.channel:
            await self._tell(body, refusal or "Turn on round review in the run's own channel.")
            return
        if record.request.get("review_rounds"):
            return
        record.request["review_rounds"] = True
        self.ctx.ledger.update(record.run_id, request_json=json.dumps(
            record.request, ensure_ascii=False, sort_keys=True))
        note = (f"<@{user}> turned on round review: the run stops for the team after each "
                "round from now on.")
        with contextlib.suppress(SlackError):
            await self.ctx.slack.post(record.channel, note, [section(note)], record.thread_ts)
