"""The ``/tune`` command: check the request, answer within Slack's 3 seconds, start the work in
the background. Everything done before the ack is fast (parsing, limits, reading a task file);
a refused or invalid request gets one ephemeral line saying what is wrong and how to fix it.
Models are the operator's only: ``--target`` is an alias, and a task file may not choose a model
the operator did not configure (see ``trust.ModelPolicy``); a refusal contacts nothing.

A command Slack sends again (``X-Slack-Retry-Num``: our first ack was late) carries the same
``trigger_id``; the ledger remembers it, so the retry is acknowledged and starts nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from core import (
    Estimate,
    PromptTunerError,
    Settings,
    Store,
    Task,
    check_ab,
    fit_dev,
    plan_calls,
    quick_task,
    task_versions,
)

from .ab import ab_title
from .blocks import help_text, history_blocks, section
from .commands import (
    AbCommand,
    CancelCommand,
    Command,
    CompareCommand,
    HelpCommand,
    HistoryCommand,
    StatusCommand,
    TuneCommand,
    UsageError,
    parse,
)
from .context import BotContext
from .limits import DAY_S, check_access, check_capacity, resolve_budget
from .redact import redact, scrub
from .report import messages_of
from .runs import RunManager
from .tasks import find, load_named, store_name

log = logging.getLogger(__name__)


@dataclass
class Reply:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Caller:
    user_id: str
    channel: str
    trigger_id: str | None
    retry: bool


class SlashCommand:
    def __init__(self, ctx: BotContext, runs: RunManager) -> None:
        self.ctx = ctx
        self.runs = runs

    async def on_command(self, ack: AsyncAck, body: dict[str, Any], request: Any) -> None:
        headers = getattr(request, "headers", {}) or {}
        caller = Caller(str(body.get("user_id", "")), str(body.get("channel_id", "")),
                        body.get("trigger_id"), bool(headers.get("x-slack-retry-num")))
        try:
            reply = self.handle(parse(str(body.get("text", "")), self.ctx.command), caller)
        except UsageError as exc:
            reply = Reply(f":warning: {exc}")
        except PromptTunerError as exc:
            reply = Reply(f":warning: {exc}")
        except Exception:
            log.exception("%s failed", self.ctx.command)
            reply = Reply(":x: Something went wrong on the bot's side; the bot's log has the "
                          "details. Try again in a moment.")
        if reply.text:
            text = redact(reply.text)
            await ack(text=text, blocks=scrub(reply.blocks) if reply.blocks else [section(text)],
                      response_type="ephemeral")
        else:
            await ack()

    def handle(self, cmd: Command, caller: Caller) -> Reply:
        if isinstance(cmd, HelpCommand):
            return Reply(help_text(self.ctx.command))
        refusal = check_access(self.ctx.settings.limits, caller.user_id, caller.channel,
                               self.ctx.command)
        if refusal:
            return Reply(f":no_entry: {refusal}")
        if isinstance(cmd, StatusCommand):
            return self.status()
        if isinstance(cmd, CancelCommand):
            return self.cancel(cmd, caller)
        if isinstance(cmd, HistoryCommand):
            return self.history(cmd)
        if isinstance(cmd, CompareCommand):
            return self.compare(cmd, caller)
        if isinstance(cmd, AbCommand):
            return self.ab(cmd, caller)
        return self.tune(cmd, caller)

    # -- starting work ------------------------------------------------------------------------------
    def _admit(self, caller: Caller, budget: int) -> Reply | None:
        """A refusal when limits say no, or a silent reply for a request Slack sent again."""
        since = time.time() - DAY_S
        ledger = self.ctx.ledger
        refusal = check_capacity(
            self.ctx.settings.limits, user_id=caller.user_id, channel=caller.channel,
            running=self.runs.running(), budget=budget,
            user_reserved=ledger.reserved_calls(since, user_id=caller.user_id),
            channel_reserved=ledger.reserved_calls(since, channel=caller.channel),
            command=self.ctx.command)
        if refusal:
            return Reply(f":no_entry: {refusal}")
        key = f"command:{caller.trigger_id}" if caller.trigger_id else None
        if key is not None and not ledger.claim(key):
            log.info("ignoring a repeated slash command (trigger %s)", caller.trigger_id)
            return Reply("")
        if key is None and caller.retry:
            return Reply("")
        return None

    def tune(self, cmd: TuneCommand, caller: Caller) -> Reply:
        limits = self.ctx.settings.limits
        policy = self.ctx.policy
        target = policy.target(cmd.target) if cmd.target is not None else None  # before anything
        if cmd.prompt is not None:
            if len(cmd.prompt) > limits.max_prompt_chars:
                raise UsageError(f"The prompt is {len(cmd.prompt):,} characters; this bot takes "
                                 f"at most {limits.max_prompt_chars:,}. Shorten it, or put it in "
                                 "a task file and use `task:<name>`.")
            try:
                task = quick_task(cmd.prompt, cmd.description)
            except PromptTunerError as exc:
                raise UsageError(f"That prompt cannot be tuned as it is: {exc}") from None
        else:
            assert cmd.task_name is not None
            task = load_named(self.ctx.settings.task_dir, cmd.task_name)
        policy.check_task(task, f"The task file `{cmd.task_name}`" if cmd.task_name else "The prompt")
        budget, refusal = resolve_budget(limits, cmd.budget)
        if refusal or budget is None:
            return Reply(f":no_entry: {refusal}")
        settings = self.ctx.run_settings(task.models, budget=budget, target=target,
                                         profile=cmd.profile, strategy=cmd.strategy)
        check_plan(task, settings, budget)
        denied = self._admit(caller, budget)
        if denied is not None:
            return denied
        record = self.runs.new_record("tune", user_id=caller.user_id, channel=caller.channel,
                                      task=task, settings=settings, budget=budget,
                                      command=cmd.__dict__, review_rounds=cmd.review)
        self.runs.spawn(record)
        reviewed = ", stopping for your review after each round" if cmd.review else ""
        return Reply(f"Started run `{record.run_id}` tuning *{task.name}* (budget {budget} "
                     f"calls{reviewed}). Follow it in the thread I am starting.")

    def compare(self, cmd: CompareCommand, caller: Caller) -> Reply:
        store, task_dir = self.ctx.store, self.ctx.settings.task_dir
        task = find(task_dir, store, cmd.task_name)
        name = task.name  # what its runs are stored under (a file's `name:` may differ)
        self.ctx.policy.check_task(task, f"The task `{cmd.task_name}`")
        if not task.examples:
            raise UsageError(f"`{name}` came from the quick form and has no examples, so there is "
                             "nothing to A/B test on. Write a task file with examples.")
        try:
            a, b = store.version(name, cmd.version_a), store.version(name, cmd.version_b)
        except PromptTunerError as exc:
            raise UsageError(f"{exc.message}. `{self.ctx.command} history {name}` lists them.") \
                from None
        budget = self.ctx.settings.limits.calls_per_run
        settings = self.ctx.run_settings(task.models, budget=budget)
        denied = self._admit(caller, budget)
        if denied is not None:
            return denied
        label_a, label_b = f"v{a['version']} `{a['id']}`", f"v{b['version']} `{b['id']}`"
        record = self.runs.new_record(
            "compare", user_id=caller.user_id, channel=caller.channel, task=task,
            settings=settings, budget=budget, title=f"A/B test of {name}: {label_a} vs {label_b}",
            a={"name": label_a, "messages": _raw(a["messages_json"])},
            b={"name": label_b, "messages": _raw(b["messages_json"])})
        self.runs.spawn(record)
        return Reply(f"Started the A/B test `{record.run_id}`: {label_a} vs {label_b}. The "
                     "answer comes in the thread I am starting.")

    def ab(self, cmd: AbCommand, caller: Caller) -> Reply:
        """A strategies A/B: ``--budget`` is each tune's (capped as for a tune); the whole A/B
        reserves strategies x seeds times that against the daily caps."""
        limits, policy = self.ctx.settings.limits, self.ctx.policy
        target = policy.target(cmd.target) if cmd.target is not None else None  # before anything
        task = load_named(self.ctx.settings.task_dir, cmd.task_name)
        policy.check_task(task, f"The task file `{cmd.task_name}`")
        budget, refusal = resolve_budget(limits, cmd.budget)
        if refusal or budget is None:
            return Reply(f":no_entry: {refusal}")
        settings = self.ctx.run_settings(task.models, budget=budget, target=target)
        seeds = list(range(settings.tune.seed, settings.tune.seed + cmd.seeds))
        strategies = list(check_ab(task, settings, cmd.strategies, seeds))
        check_plan(task, settings, budget)
        total = budget * len(strategies) * len(seeds)
        denied = self._admit(caller, total)
        if denied is not None:
            return denied
        record = self.runs.new_record("ab", user_id=caller.user_id, channel=caller.channel,
                                      task=task, settings=settings, budget=total,
                                      strategies=strategies, seeds=seeds)
        self.runs.spawn(record)
        return Reply(f"Started {ab_title(task.name, strategies, seeds)} (`{record.run_id}`): "
                     f"{len(strategies) * len(seeds)} tunes of up to {budget} calls each. The "
                     "table and the verdicts come in the thread I am starting.")

    # -- reading ----------------------------------------------------------------------------------------
    def history(self, cmd: HistoryCommand) -> Reply:
        store = self.ctx.store
        name = store_name(self.ctx.settings.task_dir, cmd.task_name)
        rows = store.versions(name)
        if not rows:
            raise UsageError(f"No versions of `{name}` in the store yet. Tune it first: "
                             f"`{self.ctx.command} task:{cmd.task_name}`.")
        blocks = history_blocks(name, rows, store.reviews(name), best_estimates(store, name))
        return Reply(f"Versions of {name}", blocks)

    def status(self) -> Reply:
        lines = []
        for active in self.runs.active.values():
            r = active.record
            what = f"`{r.run_id}` · {r.kind} of *{r.task_name}* by <@{r.user_id}> in <#{r.channel}>"
            if active.state is not None:
                state = active.state
                best = f" · best {state.best.fmt()}" if state.best is not None else ""
                what += f" · {state.phase}{best} · {state.spent()}"
            lines.append("• " + what)
        if not lines:
            lines.append("No runs in progress.")
        recent = [r for r in self.ctx.ledger.recent(5) if r.run_id not in self.runs.active]
        if recent:
            lines.append("*Recent:*")
            lines += [f"• `{r.run_id}` · {r.kind} of *{r.task_name}* · {r.status}" for r in recent]
        return Reply("\n".join(lines))

    def cancel(self, cmd: CancelCommand, caller: Caller) -> Reply:
        found = self.runs.find_active(cmd.run_ref)
        if len(found) != 1:
            problem = "is not running" if not found else "matches several runs; give more of the id"
            raise UsageError(f"Run `{cmd.run_ref}` {problem}. `{self.ctx.command} status` "
                             "lists the runs in progress.")
        run = found[0]
        if caller.user_id != run.record.user_id and caller.user_id not in self.ctx.settings.limits.admins:
            return Reply(f":no_entry: Only <@{run.record.user_id}> (who started it) or a bot admin "
                         f"can cancel run `{run.record.run_id}`.")
        self.runs.cancel(run, caller.user_id)
        return Reply(f"Cancelling run `{run.record.run_id}`; what it measured so far is kept.")


def _raw(messages_json: str) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages_of(messages_json)]


def check_plan(task: Task, settings: Settings, budget: int) -> None:
    """Refuse a budget too small to compare two prompts before anything starts."""
    if task.examples:
        names = [n for n in ("train", "dev") if n in task.splits]
        n = len([e for name in names for e in task.split(name)]) if task.splits else len(task.examples)
        n = fit_dev(n, settings, task.uses_judge())  # as the engine will: what the budget affords
    else:
        n = settings.tune.samples
    plan = plan_calls(n, settings, task.uses_judge())
    if budget < plan["minimum"]:
        raise UsageError(f"A budget of {budget} calls cannot compare even two prompts on this "
                         f"task: that needs at least {plan['minimum']}. Ask for `--budget "
                         f"{plan['minimum']}` or more (the full plan is {plan['calls']}).")


def best_estimates(store: Store, task_name: str) -> dict[str, Estimate]:
    """Each version's score with its CI and n: the core's one definition (``task_versions``)."""
    try:
        versions = task_versions(store, task_name)
    except PromptTunerError:
        return {}
    return {v.id: v.score for v in versions if v.score is not None}
