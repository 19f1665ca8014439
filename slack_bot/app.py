"""``prompt-tuner-slack``: build the Bolt app and serve it, over HTTP (default) or Socket Mode.

    prompt-tuner-slack --port 3000            # Slack calls http(s)://YOUR-HOST/slack/events
    prompt-tuner-slack --socket-mode          # no public URL: needs SLACK_APP_TOKEN (xapp-…)

On start it resumes every run the bot had not finished (see ``runs.RunManager``); SIGTERM
pauses running tunes so the next start finishes them in their threads.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from slack_bolt.async_app import AsyncApp

from core import ConfigError, LoadedSettings, PromptTunerError, load_settings, open_store

from . import redact
from .blocks import EDIT_CALLBACK
from .context import BotContext
from .ledger import Ledger
from .review import Reviews
from .runs import RunManager
from .settings import BotSettings, SlackSecrets, load_bot_settings
from .slack_io import SlackIO, make_client
from .slash import SlashCommand
from .trust import ModelPolicy
from .web import HttpServer

log = logging.getLogger("slack_bot")


@dataclass
class Bot:
    ctx: BotContext
    bolt: AsyncApp
    runs: RunManager

    async def close(self) -> None:
        await self.runs.shutdown()
        self.ctx.close()


def build_bot(settings: BotSettings, core: LoadedSettings, secrets: SlackSecrets, *,
              socket_mode: bool = False) -> Bot:
    if secrets.bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set",
                          "export the app's Bot User OAuth Token (xoxb-…); see docs/slack.md")
    if not socket_mode and secrets.signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set",
                          "export the app's Signing Secret (Basic Information page)")
    redact.install([*secrets.values(), *redact.secret_values(core.secrets)])
    client = make_client(secrets.bot_token.get_secret_value(), settings.api_url)
    policy = ModelPolicy(core.settings, settings.targets)
    store = open_store(core.settings)
    ctx = BotContext(settings, core, SlackIO(client), Ledger(settings.ledger_path(core.settings)),
                     store, policy)
    runs = RunManager(ctx)
    signing = secrets.signing_secret.get_secret_value() if secrets.signing_secret else ""
    bolt = AsyncApp(client=client, signing_secret=signing, name="prompt-tuner-slack",
                    request_verification_enabled=not socket_mode)
    register(bolt, ctx, runs)
    return Bot(ctx, bolt, runs)


def register(bolt: AsyncApp, ctx: BotContext, runs: RunManager) -> None:
    slash, reviews = SlashCommand(ctx, runs), Reviews(ctx, runs)
    bolt.command(ctx.command)(slash.on_command)
    bolt.action(re.compile(r"^review_(approve|reject)$"))(reviews.on_verdict)
    bolt.action("review_evaluate")(reviews.on_evaluate)
    bolt.action("review_edit")(reviews.on_edit)
    bolt.view(EDIT_CALLBACK)(reviews.on_edit_submit)
    rounds = runs.rounds
    bolt.action(re.compile(r"^round_(drop|keep)$"))(rounds.on_mark)
    bolt.action(re.compile(r"^round_(continue|stop)$"))(rounds.on_decide)
    bolt.action(re.compile(r"^round_(edit|add)$"))(rounds.on_prompt)
    bolt.action("round_enable")(rounds.on_enable)
    bolt.view(re.compile(r"^round_(edit|add)_prompt$"))(rounds.on_prompt_submit)


# -- running -----------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="prompt-tuner-slack", description=__doc__.splitlines()[0])
    p.add_argument("--socket-mode", action="store_true",
                   help="connect out over Socket Mode (needs SLACK_APP_TOKEN) instead of HTTP")
    p.add_argument("--host", default="0.0.0.0", help="HTTP mode: address to listen on")
    p.add_argument("--port", type=int, default=3000, help="HTTP mode: port (0: any free one)")
    p.add_argument("--path", default="/slack/events", help="HTTP mode: the Request URL's path")
    p.add_argument("--config", type=Path, help="the core's config file (prompt-tuner.yaml)")
    p.add_argument("--profile", help="the core's profile: quick, default, thorough")
    p.add_argument("--slack-config", type=Path, help="the bot's file (prompt-tuner-slack.yaml)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p.parse_args(argv)


def stop_event() -> asyncio.Event:
    """Set on SIGTERM or SIGINT. Where the event loop cannot watch signals (Windows), a plain
    ``signal.signal`` handler sets it from the loop's thread; where that fails too, Ctrl-C
    still ends the bot through KeyboardInterrupt."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            try:
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
            except (ValueError, OSError):  # not the main thread, or a signal the OS lacks
                log.debug("cannot watch %s here", sig.name)
    return stop


async def serve(bot: Bot, args: argparse.Namespace, secrets: SlackSecrets) -> None:
    stop = stop_event()
    if args.socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        assert secrets.app_token is not None
        handler = AsyncSocketModeHandler(bot.bolt, secrets.app_token.get_secret_value(),
                                         web_client=bot.ctx.slack.client)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("prompt-tuner-slack connected over Socket Mode")
    else:
        server = HttpServer(bot.bolt, args.host, args.port, args.path)
        await server.start()
        log.info("prompt-tuner-slack listening on %s", server.url)
    try:
        resumed = await bot.runs.resume_unfinished()
        if resumed:
            log.info("resuming %d unfinished run(s)", resumed)
        await stop.wait()
        log.info("stopping: running tunes pause and resume on the next start")
    finally:
        await bot.close()
        if args.socket_mode:
            await handler.close_async()  # type: ignore[no-untyped-call]
        else:
            await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.verbose < 2:
        logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    try:
        secrets = SlackSecrets()
        redact.install(secrets.values())
        if args.socket_mode and secrets.app_token is None:
            raise ConfigError("--socket-mode needs SLACK_APP_TOKEN",
                              "create an app-level token with connections:write (xapp-…)")
        core = load_settings(config_file=args.config, profile=args.profile)
        bot = build_bot(load_bot_settings(args.slack_config), core, secrets,
                        socket_mode=args.socket_mode)
        asyncio.run(serve(bot, args, secrets))
    except PromptTunerError as exc:
        print(f"prompt-tuner-slack: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
