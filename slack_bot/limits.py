"""Who may start a run, and how much it may spend: allowlists, concurrent runs per person, per
channel and in all, and model-call budgets per run and per day. Pure: the caller passes what is
running and what was reserved; the answer is None (go ahead) or one line for the person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .settings import BotLimits

DAY_S = 24 * 3600.0


@dataclass(frozen=True)
class Running:
    """A run in progress, as the limits see it."""

    run_id: str
    user_id: str
    channel: str


def check_access(limits: BotLimits, user_id: str, channel: str, command: str) -> str | None:
    if limits.allowed_users and user_id not in limits.allowed_users:
        return (f"Sorry, you are not on this bot's list of users, so `{command}` is not open to "
                "you. Ask the bot's admin to add you to `limits.allowed_users`.")
    if limits.allowed_channels and channel not in limits.allowed_channels:
        return (f"`{command}` is not enabled in this channel. Use it in one of the channels the "
                "admin allowed, or ask them to add this one to `limits.allowed_channels`.")
    return None


def resolve_budget(limits: BotLimits, asked: int | None) -> tuple[int | None, str | None]:
    """The run's budget in model calls, or a refusal when it is over the cap."""
    if asked is None:
        return limits.calls_per_run, None
    if asked > limits.calls_per_run:
        return None, (f"A budget of {asked} model calls is over this bot's cap of "
                      f"{limits.calls_per_run} per run. Ask for `--budget {limits.calls_per_run}` "
                      "or less.")
    return asked, None


def check_capacity(limits: BotLimits, *, user_id: str, channel: str, running: Sequence[Running],
                   budget: int, user_reserved: int, channel_reserved: int,
                   command: str) -> str | None:
    """None when one more run of ``budget`` calls fits; else why not, and what to do."""
    mine = [r for r in running if r.user_id == user_id]
    if len(mine) >= limits.runs_per_user:
        ids = ", ".join(f"`{r.run_id}`" for r in mine)
        return (f"You already have {len(mine)} run(s) going ({ids}); the limit is "
                f"{limits.runs_per_user} at a time. Wait for it to finish, or stop it with "
                f"`{command} cancel {mine[0].run_id}`.")
    here = [r for r in running if r.channel == channel]
    if len(here) >= limits.runs_per_channel:
        return (f"This channel already has {len(here)} run(s) going; the limit is "
                f"{limits.runs_per_channel} at a time. Try again when one finishes "
                f"(`{command} status` shows them).")
    if len(running) >= limits.runs_total:
        return (f"The bot is busy with {len(running)} runs (its limit). Try again in a few "
                f"minutes; `{command} status` shows what is running.")
    if limits.calls_per_user_per_day is not None and (
            user_reserved + budget > limits.calls_per_user_per_day):
        left = max(0, limits.calls_per_user_per_day - user_reserved)
        return (f"This run's budget of {budget} calls would take you over your daily cap of "
                f"{limits.calls_per_user_per_day} (you have {left} left in the last 24 hours). "
                f"Ask for a smaller `--budget`, or try again later.")
    if limits.calls_per_channel_per_day is not None and (
            channel_reserved + budget > limits.calls_per_channel_per_day):
        left = max(0, limits.calls_per_channel_per_day - channel_reserved)
        return (f"This run's budget of {budget} calls would take this channel over its daily cap "
                f"of {limits.calls_per_channel_per_day} ({left} left in the last 24 hours). Ask "
                "for a smaller `--budget`, or try again later.")
    return None
