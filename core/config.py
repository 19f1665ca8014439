"""Typed configuration, merged from layers, with the source of every value.

Precedence (lowest first): built-in defaults < profile < config file < environment
(``PROMPT_TUNER_*``, ``__`` between nested names) < CLI flags. Secrets (API keys) come only from
the environment, as ``SecretStr``; they are never printed, logged or written.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from .budget import BudgetLimits
from .errors import ConfigError
from .models.limits import RateLimits
from .yamlio import load_yaml

ENV_PREFIX = "PROMPT_TUNER_"
CONFIG_NAMES = ("prompt-tuner.yaml", "prompt-tuner.yml", "prompt-tuner.json")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelRoles(_Strict):
    target: str = Field(default="embedded", description="the small model the prompt is for")
    optimizer: str = Field(default="embedded", description="proposes new prompts")
    judge: str = Field(default="embedded", description="scores answers when there is no expected output")


class EmbeddedSettings(_Strict):
    n_ctx: int = Field(default=4096, ge=256, description="context size of the embedded model")
    n_threads: int = Field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)), ge=1,
                           description="threads for llama.cpp (default: cores, at most 4)")


class RetrySettings(_Strict):
    attempts: int = Field(default=5, ge=1, description="attempts per request, the first included")
    initial_s: float = Field(default=0.5, ge=0)
    max_s: float = Field(default=30.0, ge=0)
    jitter_s: float = Field(default=0.5, ge=0)


class TimeoutSettings(_Strict):
    connect: float = Field(default=10.0, gt=0)
    read: float = Field(default=120.0, gt=0)
    write: float = Field(default=30.0, gt=0)
    pool: float = Field(default=30.0, gt=0)
    total: float = Field(default=180.0, gt=0, description="one whole attempt")


class CacheSettings(_Strict):
    enabled: bool = True
    path: Path | None = Field(default=None, description="default: user cache dir")
    ttl_s: float | None = Field(default=None, gt=0, description="entries older than this are refetched")


class PoolSettings(_Strict):
    cooldown_s: float = Field(default=30.0, ge=0)
    max_failures: int = Field(default=3, ge=1)


class Price(_Strict):
    input_per_mtok: float = Field(default=0.0, ge=0, description="USD per million prompt tokens")
    output_per_mtok: float = Field(default=0.0, ge=0)


class TuneSettings(_Strict):
    variations: int = Field(default=4, ge=1, le=64, description="prompts the optimizer proposes")
    refine_top: int = Field(default=2, ge=0, le=16, description="best candidates refined with feedback")
    max_examples: int | None = Field(default=24, ge=1, description="examples scored per candidate")
    concurrency: int = Field(default=4, ge=1, le=512, description="model calls in flight per model")
    seed: int = 0
    optimizer_temperature: float = Field(default=0.8, ge=0, le=2)
    samples: int = Field(default=5, ge=1, le=100, description=(
        "answers sampled per candidate when a task has no examples (quick form)"))
    sample_temperature: float = Field(default=0.7, ge=0, le=2)
    answer_max_tokens: int | None = Field(
        default=None, ge=1, description="default: from the metric (short for labels)")
    proposal_max_tokens: int = Field(default=192, ge=1)
    strategy: str = Field(default="auto", description="auto | refine | opro | evolve | fewshot | cot")
    rounds: int = Field(default=4, ge=1, le=50, description="search rounds at most")
    patience: int = Field(default=2, ge=1, le=50,
                          description="stop after this many rounds without a significant gain")
    rungs: list[int] = Field(default_factory=lambda: [8, 16], description=(
        "racing: dev examples a new candidate is scored on before it may be dropped"))
    alpha: float = Field(default=0.05, gt=0, lt=1, description="significance level")
    keep_best: bool = Field(default=False, description=(
        "return the search's best even when its held-out gain is not significant"))
    auto_split_min: int = Field(default=30, ge=4, description=(
        "tasks without splits and at least this many examples get a seeded 40/30/30 split"))


class Settings(_Strict):
    profile: str = "default"
    models: ModelRoles = ModelRoles()
    embedded: EmbeddedSettings = EmbeddedSettings()
    limits: RateLimits = RateLimits()
    model_limits: dict[str, RateLimits] = Field(
        default_factory=dict, description="per model spec, replacing `limits`")
    retry: RetrySettings = RetrySettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    cache: CacheSettings = CacheSettings()
    pool: PoolSettings = PoolSettings()
    budget: BudgetLimits = BudgetLimits()
    tune: TuneSettings = TuneSettings()
    prices: dict[str, Price] = Field(default_factory=dict, description="by model name")
    truncation: list[Literal["shrink", "drop_examples"]] = ["shrink", "drop_examples"]
    store_path: Path | None = Field(default=None, description="default: user data dir")
    run_dir: Path | None = Field(default=None, description="where reports go")
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict, description="user profiles")

    def limits_for(self, spec: str) -> RateLimits:
        return self.model_limits.get(spec, self.limits)

    def store_file(self) -> Path:
        return self.store_path or data_dir() / "store.db"

    def cache_file(self) -> Path:
        return self.cache.path or Path(platformdirs.user_cache_dir("prompt-tuner")) / "responses.db"

    def runs_dir(self) -> Path:
        return self.run_dir or data_dir() / "runs"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir("prompt-tuner"))


class Secrets(BaseSettings):
    """API keys, from the environment only."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    hf_token: SecretStr | None = Field(default=None, validation_alias="HF_TOKEN")


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"tune": {"variations": 2, "refine_top": 1, "max_examples": 12}},
    "default": {},
    "thorough": {"tune": {"variations": 8, "refine_top": 3, "max_examples": None}},
}


class _EnvBase(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                      case_sensitive=False, extra="ignore")


def _env_shape() -> type[BaseSettings]:
    """The shape pydantic-settings parses the environment into, derived from ``Settings`` so a
    new setting is readable from ``PROMPT_TUNER_*`` without a second list to keep in step:
    sections as dicts (``__`` nests), lists as lists, everything else as text."""
    fields: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        origin = typing.get_origin(info.annotation)
        section = isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
        if section or origin is dict:
            kind: Any = dict[str, Any]
        elif origin is list:
            kind = list[Any]
        else:
            kind = str
        fields[name] = (kind | None, None)
    return create_model("_EnvSettings", __base__=_EnvBase, **fields)


_EnvSettings = _env_shape()


@dataclass
class LoadedSettings:
    settings: Settings
    sources: dict[str, str]  # dotted key -> where its value came from
    secrets: Secrets
    config_file: Path | None


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v and k not in ("model_limits", "prices", "profiles"):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def find_config_file(explicit: Path | None, cwd: Path | None = None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}", "check the --config path")
        return explicit
    base = cwd or Path.cwd()
    for name in CONFIG_NAMES:
        if (base / name).is_file():
            return base / name
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}", "check the path") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except (ValueError, yaml.YAMLError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise ConfigError(f"{path}{where}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}",
                          "fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings",
                          "see `prompt-tuner config show` for the keys")
    return data


def _env_layer() -> dict[str, Any]:
    try:
        raw = EnvSettingsSource(_EnvSettings, env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                case_sensitive=False)()
    except Exception as exc:  # pydantic-settings raises SettingsError on unparsable values
        raise ConfigError(f"environment: {exc}", f"fix the {ENV_PREFIX}* variables") from None
    return {k: v for k, v in raw.items() if v is not None}


def _describe(err: ValidationError, sources: Mapping[str, str]) -> ConfigError:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    src = sources.get(key) or next(
        (s for k, s in sources.items() if k.startswith(key + ".") or key.startswith(k + ".")), "")
    if first["type"] == "extra_forbidden":
        return ConfigError(f"unknown setting '{key}'" + (f" in {src}" if src else ""),
                           "remove it or check its spelling (`prompt-tuner config show` lists keys)")
    where = f" (from {src})" if src else ""
    return ConfigError(f"setting '{key}': {first['msg']}{where}", "fix the value")


def load_settings(
    *,
    config_file: Path | None = None,
    profile: str | None = None,
    flags: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
) -> LoadedSettings:
    """Merge every layer, validate once, and remember where each value came from."""
    file_path = find_config_file(config_file, cwd)
    file_layer = read_config_file(file_path) if file_path else {}
    env_layer = _env_layer()
    flag_layer = _unflatten({k: v for k, v in (flags or {}).items() if v is not None})

    user_profiles = file_layer.get("profiles") or {}
    if not isinstance(user_profiles, dict):
        raise ConfigError(f"{file_path}: 'profiles' must be a mapping", "fix the config file")
    name = (profile or flag_layer.get("profile") or env_layer.get("profile")
            or file_layer.get("profile") or "default")
    all_profiles = {**PROFILES, **user_profiles}
    if name not in all_profiles:
        raise ConfigError(f"unknown profile '{name}'",
                          f"use one of: {', '.join(sorted(all_profiles))}")
    profile_layer = {**all_profiles[name], "profile": name}

    merged: dict[str, Any] = _flatten(Settings().model_dump(mode="json"))
    sources = dict.fromkeys(merged, "default")
    layers = [
        (f"profile {name}", profile_layer),
        (f"config file {file_path}", file_layer),
        ("environment", env_layer),
        ("flag", flag_layer),
    ]
    for label, layer in layers:
        for key, value in _flatten(layer).items():
            merged[key] = value
            sources[key] = label
    try:
        settings = Settings.model_validate(_unflatten(merged))
    except ValidationError as exc:
        raise _describe(exc, sources) from None
    return LoadedSettings(settings, sources, Secrets(), file_path)


def describe_settings(loaded: LoadedSettings) -> list[tuple[str, str, str]]:
    """(key, value, source) for every setting, secrets masked."""
    rows = []
    flat = _flatten(loaded.settings.model_dump(mode="json"))
    for key in sorted(flat):
        src = loaded.sources.get(key) or next(
            (s for k, s in loaded.sources.items() if key.startswith(k + ".")), "default")
        rows.append((key, json.dumps(flat[key]), src))
    for field_name, alias in (("openai_api_key", "OPENAI_API_KEY"),
                              ("anthropic_api_key", "ANTHROPIC_API_KEY"), ("hf_token", "HF_TOKEN")):
        secret = getattr(loaded.secrets, field_name)
        rows.append((f"secrets.{alias}", "'**********'" if secret else "(not set)", "environment"))
    return rows


def resolve_models(loaded: LoadedSettings, task_models: Any) -> Settings:
    """Model roles: a task file's ``models:`` beats config files and profiles, while the
    environment and flags beat the task file."""
    settings = loaded.settings
    updates = {}
    for role in ("target", "optimizer", "judge"):
        from_task = getattr(task_models, role, None)
        source = loaded.sources.get(f"models.{role}", "default")
        if from_task and source not in ("flag", "environment"):
            updates[role] = from_task
    if not updates:
        return settings
    return settings.model_copy(update={"models": settings.models.model_copy(update=updates)})
