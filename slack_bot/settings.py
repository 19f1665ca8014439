"""The bot's own settings: limits, where task files live, how often progress is posted.

The core's settings (store path, models, budget defaults, prices) come from the core's config
(``prompt-tuner.yaml``, ``PROMPT_TUNER_*``). The bot's settings follow the same conventions in
their own layer, because the core's settings reject unknown sections: defaults < the bot's YAML
file (``prompt-tuner-slack.yaml``) < environment (``PROMPT_TUNER_SLACK_*``, ``__`` between nested
names). Slack credentials come from the environment only (``SLACK_BOT_TOKEN``,
``SLACK_SIGNING_SECRET``, ``SLACK_APP_TOKEN``) and are held as ``SecretStr``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core import ConfigError, Settings, load_yaml, yaml_problem

ENV_PREFIX = "PROMPT_TUNER_SLACK_"
CONFIG_NAME = "prompt-tuner-slack.yaml"
DB_NAME = "slack-bot.db"
ALIAS = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
DEFAULT_ALIAS = "default"  # always the core's configured target


class BotLimits(BaseModel):
    """Who may start what, and how much of it."""

    model_config = ConfigDict(extra="forbid")

    max_prompt_chars: int = Field(default=4000, ge=1, description="longest quick-form prompt")
    runs_per_user: int = Field(default=1, ge=1, description="concurrent runs one person may have")
    runs_per_channel: int = Field(default=2, ge=1, description="concurrent runs in one channel")
    runs_total: int = Field(default=4, ge=1, description="concurrent runs in the whole bot")
    calls_per_run: int = Field(default=400, ge=1,
                               description="the default budget of a run and the cap on --budget")
    calls_per_user_per_day: int | None = Field(
        default=4000, ge=1, description="model calls a person's runs may reserve in 24 hours")
    calls_per_channel_per_day: int | None = Field(
        default=10000, ge=1, description="model calls a channel's runs may reserve in 24 hours")
    allowed_channels: list[str] = Field(default_factory=list, description="empty: every channel")
    allowed_users: list[str] = Field(default_factory=list, description="empty: everyone")
    admins: list[str] = Field(default_factory=list, description="may cancel anyone's run")


class BotSettings(BaseSettings):
    """Everything about the bot that is not a credential."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                      case_sensitive=False, extra="forbid")

    command: str = Field(default="/tune", pattern=r"^/[a-z0-9_-]+$")
    task_dir: Path = Field(default=Path("tasks"), description="task files for `task:<name>`")
    db_path: Path | None = Field(default=None,
                                 description="the bot's thread ledger; default: beside the store")
    api_url: str | None = Field(default=None,
                                description="Slack Web API base URL (default: Slack's own)")
    progress_interval_s: float = Field(default=3.0, ge=0.0,
                                       description="least time between two progress updates")
    top_candidates: int = Field(default=3, ge=1, le=8, description="candidates in the report")
    round_review_timeout_s: float = Field(
        default=1800.0, gt=0.0,
        description="how long a reviewed run waits for the team after a round; then it goes on "
                    "with what was marked")
    round_reviewers: list[str] = Field(
        default_factory=list,
        description="Slack user ids who decide on reviewed rounds; empty: anyone in the channel")
    targets: dict[str, str] = Field(
        default_factory=dict,
        description="the models members may choose with `--target ALIAS`, as {alias: spec}; "
                    "`default` (the core's models.target) is always there")
    limits: BotLimits = BotLimits()

    @field_validator("targets")
    @classmethod
    def _aliases(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, spec in value.items():
            alias = name.strip().lower()
            if not ALIAS.match(alias):
                raise ValueError(f"'{name}' is not an alias: use letters, digits and -_. "
                                 "(at most 40)")
            if alias == DEFAULT_ALIAS:
                raise ValueError("'default' is always the core's models.target; set that instead")
            if not spec.strip() or any(c.isspace() for c in spec.strip()):
                raise ValueError(f"the spec of '{name}' must be one model spec without spaces")
            out[alias] = spec.strip()
        return out

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init arguments; the environment beats it.
        return env_settings, init_settings

    def ledger_path(self, core: Settings) -> Path:
        return self.db_path or core.store_file().with_name(DB_NAME)


class SlackSecrets(BaseSettings):
    """Slack credentials, from the environment only."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")

    @field_validator("bot_token", "signing_secret", "app_token", mode="before")
    @classmethod
    def _blank_is_missing(cls, value: object) -> object:
        """An empty or blank credential (``SLACK_SIGNING_SECRET=`` from a compose file) is not
        set; surrounding whitespace (a newline from ``$(cat file)``) is not part of it."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str):
            return raw.strip() or None
        return value

    def values(self) -> list[str]:
        """Every credential that is set (for redaction)."""
        return [s.get_secret_value() for s in (self.bot_token, self.signing_secret, self.app_token)
                if s is not None and s.get_secret_value()]


def load_bot_settings(config_file: Path | None = None, cwd: Path | None = None) -> BotSettings:
    """Read the bot's YAML file (explicit, or ``prompt-tuner-slack.yaml`` in the working folder
    when present) and the environment; one ConfigError line on a mistake."""
    path = config_file
    if path is None and (cwd or Path.cwd()).joinpath(CONFIG_NAME).is_file():
        path = (cwd or Path.cwd()) / CONFIG_NAME
    data = _read_yaml(path) if path is not None else {}
    try:
        return BotSettings(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        where = f" in {path}" if path is not None else ""
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"unknown bot setting '{key}'{where}",
                              "check its spelling in docs/slack.md") from None
        raise ConfigError(f"bot setting '{key}'{where}: {first['msg']}",
                          f"fix the value (file or {ENV_PREFIX}* variable)") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"bot config file not found: {path}", "check the --slack-config path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"cannot read {path} as UTF-8 text", "check the --slack-config path") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        line, problem, hint = yaml_problem(exc, text)
        where = f" line {line}" if line is not None else ""
        raise ConfigError(f"{path}{where}: {problem}", hint) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings",
                          "see docs/slack.md for the keys")
    return data
