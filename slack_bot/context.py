"""What every part of the bot shares: its settings, the core's settings, Slack, the ledger and
the store. Built once by ``app.build_bot``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import ConfigError, LoadedSettings, Settings, Store, load_settings, resolve_models

from .commands import UsageError
from .ledger import Ledger
from .settings import BotSettings
from .slack_io import SlackIO
from .trust import ModelPolicy


@dataclass
class BotContext:
    settings: BotSettings
    core: LoadedSettings
    slack: SlackIO
    ledger: Ledger
    store: Store
    policy: ModelPolicy

    @property
    def command(self) -> str:
        return self.settings.command

    def run_settings(self, task_models: Any, *, budget: int, target: str | None = None,
                     profile: str | None = None, strategy: str | None = None) -> Settings:
        """The core's settings for one run: the bot's config with the request's options, and
        the task's own models where neither the environment nor the request overrides them.
        ``target`` is a spec the operator configured (see ``trust.ModelPolicy``); a run whose
        models are not all the operator's is refused here."""
        flags = {"models.target": target, "budget.max_calls": budget,
                 "store_path": str(self.store.path), "tune.strategy": strategy}
        try:
            loaded = load_settings(config_file=self.core.config_file, profile=profile, flags=flags)
        except ConfigError as exc:
            if strategy is None or "tune.strategy" not in str(exc):
                raise
            if strategy != "refine":  # a core without a choice of strategy: it runs refine
                raise UsageError("this prompt-tuner runs one strategy, `refine`; drop "
                                 "`--strategy`") from None
            loaded = load_settings(config_file=self.core.config_file, profile=profile,
                                   flags={**flags, "tune.strategy": None})
        settings = resolve_models(loaded, task_models)
        self.policy.check_settings(settings)
        return settings

    def close(self) -> None:
        self.ledger.close()
        self.store.close()
