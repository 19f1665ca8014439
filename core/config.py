"""Typed configuration, merged from layers, with the source of every value.

Precedence (lowest first): built-in defaults < profile < config file < environment
(``PROMPT_TUNER_*``, ``__`` between nested names) < CLI flags. Secrets (API keys) come only from
the environment, as ``SecretStr``; they are never printed, logged or written. Which endpoint may
receive which key is the operator's choice (``key_bindings``), never a task file's.
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from .budget import BudgetLimits
from .errors import ConfigError
from .models.endpoints import BadURL, parse_url
from .models.limits import RateLimits
from .processors.spec import ProcessorSpec

ENV_PREFIX = "PROMPT_TUNER_"
CONFIG_NAMES = ("prompt-tuner.yaml", "prompt-tuner.yml", "prompt-tuner.json")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Settings whose keys are data (model specs, model names, URLs), not nested setting names.
_DATA_KEYED = ("model_limits", "prices", "profiles", "key_bindings")


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
    scheduling: Literal["prefix", "fifo"] = Field(
        default="prefix", description="order of waiting calls: `prefix` runs next the one that "
        "reuses most of the model's cache (same answers, fewer prompt tokens computed); `fifo` "
        "in arrival order")
    slots: int = Field(default=4, ge=1, le=32, description="llama contexts (KV caches) kept "
                       "for the model, so several candidates' prompts stay cached at once")
    parallel: int | None = Field(default=None, ge=1, description="calls computed at once, "
                                 "each in its own context (default: one per thread, at most "
                                 "`slots`)")


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
    history: bool = Field(default=True, description=(
        "a tune reuses the answers earlier runs in its store received for the very same "
        "request (model, messages, sampling, seed), as the cache would"))


class PoolSettings(_Strict):
    cooldown_s: float = Field(default=30.0, ge=0)
    max_failures: int = Field(default=3, ge=1)


class Price(_Strict):
    input_per_mtok: float = Field(default=0.0, ge=0, description="USD per million prompt tokens")
    output_per_mtok: float = Field(default=0.0, ge=0)


class TuneSettings(_Strict):
    variations: int = Field(default=4, ge=1, le=64, description="prompts the optimizer proposes")
    refine_top: int = Field(default=2, ge=0, le=16, description="best candidates refined with feedback")
    max_examples: int | None = Field(default=None, ge=1, description=(
        "cap on the dev examples a candidate is scored on; default: all of dev, or as many as "
        "budget.max_calls affords (at least 24)"))
    concurrency: int = Field(default=4, ge=1, le=512, description="model calls in flight per model")
    seed: int = Field(default=0, ge=0, description="seeds splits, sampling and bootstrap intervals")
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
    faithfulness: Literal["embedding", "optimizer", "off"] = Field(default="embedding", description=(
        "check every proposed instruction against the task before it is scored: answer words of "
        "another task and copies of a meta-prompt's worked example are rejected, and so is an "
        "instruction whose meaning is too far from the task (embedding: MiniLM similarity, "
        "offline; optimizer: the optimizer answers yes or no); off: no check"))
    faithfulness_threshold: float = Field(default=0.47, ge=-1, le=1, description=(
        "embedding check: the least similarity of an instruction to the task"))
    faithfulness_retries: int = Field(default=1, ge=0, le=5, description=(
        "extra asks per round for proposals to replace rejected ones"))
    duplicate_threshold: float = Field(default=0.99, ge=-1, le=1.01, description=(
        "a proposal whose instruction has at least this MiniLM similarity to an already "
        "measured prompt's (same demonstrations and answer line) is not scored; above 1: off"))
    predictor: bool = Field(default=True, description=(
        "predict each proposal's dev gain over its parent from the store's history and skip "
        "confident predicted losers before they are scored"))
    warm_start: bool = Field(default=True, description=(
        "begin with what won on similar tasks in the store: the first round also scores the "
        "earlier winners' pattern on this task's instruction (and their prompt when it fits)"))
    warm_threshold: float = Field(default=0.6, ge=-1, le=1, description=(
        "warm start: the least task similarity (MiniLM, offline) of an earlier run"))


class SafetySettings(_Strict):
    """Screening of what goes in and comes out of the target (``core.safety``)."""

    injection: Literal["off", "report", "refuse"] = Field(default="off", description=(
        "screen example inputs and the task's prompt for prompt-injection text: report counts "
        "them; refuse also refuses a prompt that has some before any call, and does not send "
        "an example whose input has some"))
    deny: list[str] = Field(default_factory=list, description=(
        "answers holding one of these are flagged: a word or phrase (whole words, any case), "
        "or re:PATTERN for a regex (Python syntax, size- and time-bounded like the regex metric)"))
    block: bool = Field(default=False, description=(
        "a flagged answer, or the answer to a flagged input, scores 0 (outcome blocked)"))
    moderation: str | None = Field(default=None, description=(
        "a model spec asked about every answer whether it is unsafe (yes/no); a yes flags the "
        "answer like the deny-list. One call per answer, counted against the budget"))

    @field_validator("deny")
    @classmethod
    def _check_deny(cls, value: list[str]) -> list[str]:
        from .errors import TaskError
        from .safety import compile_deny  # the safety module reads these settings

        try:
            compile_deny(value)
        except TaskError as exc:
            raise ValueError(exc.message) from None
        return value


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
    processors: list[ProcessorSpec] = Field(default_factory=list, description=(
        "hooks on the target's calls, in order, before a task file's own: names (strip-think, "
        "first-line, final-answer, trim, redact), {name: aliases, map: {...}} entries with "
        "settings, or pkg.mod:fn"))
    safety: SafetySettings = SafetySettings()
    store_path: Path | None = Field(default=None, description="default: user data dir")
    run_dir: Path | None = Field(default=None, description="where reports go")
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict, description="user profiles")
    key_bindings: dict[str, str] = Field(default_factory=dict, description=(
        "API keys for endpoints other than the providers' own hosts: base URL -> name of the "
        "environment variable holding its key, e.g. {\"https://gpu1.lan:8000/v1\": \"VLLM_API_KEY\"}. "
        "A URL gets the key when it has the same scheme, host and port and lies at or under the "
        "bound path. OPENAI_API_KEY, ANTHROPIC_API_KEY and HF_TOKEN otherwise go only to "
        "api.openai.com, api.anthropic.com and router.huggingface.co (https); any other URL gets "
        "no key, which is what a local server needs. Set it in the environment "
        "(PROMPT_TUNER_KEY_BINDINGS as JSON) or in a config file named with --config; task files "
        "and config files found in the working directory cannot bind keys"))

    @field_validator("key_bindings")
    @classmethod
    def _check_key_bindings(cls, value: dict[str, str]) -> dict[str, str]:
        for url, name in value.items():
            try:
                parse_url(url)
            except BadURL as exc:
                raise ValueError(f"bad base URL '{url}': {exc}") from None
            if not ENV_NAME.match(name):
                raise ValueError(f"'{name}' (bound to {url}) is not an environment variable name")
        return value

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


PROVIDER_KEYS = {"OPENAI_API_KEY": "openai_api_key", "ANTHROPIC_API_KEY": "anthropic_api_key",
                 "HF_TOKEN": "hf_token"}


class Secrets(BaseSettings):
    """API keys, from the environment only: the providers' three, and the ones ``key_bindings``
    names (read by :func:`load_settings`).

    Examples:
        >>> from core import Secrets
        >>> secrets = Secrets().with_bound(["VLLM_API_KEY"], {"VLLM_API_KEY": "sk-local"})
        >>> secrets.get("VLLM_API_KEY"), secrets.get("OPENAI_API_KEY"), secrets.names()
        ('sk-local', None, ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'HF_TOKEN', 'VLLM_API_KEY'])
        >>> "sk-local" in repr(secrets)
        False
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    hf_token: SecretStr | None = Field(default=None, validation_alias="HF_TOKEN")
    _bound: dict[str, SecretStr] = PrivateAttr(default_factory=dict)

    def get(self, name: str) -> str | None:
        """The key held by environment variable ``name`` (a provider's or a bound one)."""
        field = PROVIDER_KEYS.get(name)
        secret: SecretStr | None = getattr(self, field) if field else self._bound.get(name)
        if secret is None:
            return None
        return secret.get_secret_value() or None

    def with_bound(self, names: Iterable[str], environ: Mapping[str, str]) -> Secrets:
        """A copy that also holds the keys of the bound variables ``names`` that are set."""
        copy = self.model_copy()
        copy._bound = {n: SecretStr(environ[n]) for n in names
                       if n not in PROVIDER_KEYS and environ.get(n)}
        return copy

    def names(self) -> list[str]:
        """Every variable this object can hold a key for: the providers' and the bound ones."""
        return [*PROVIDER_KEYS, *sorted(self._bound)]

    def all_values(self) -> list[str]:
        """Every key that is set, for redaction."""
        return [v for v in (self.get(n) for n in self.names()) if v]


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
        if isinstance(v, Mapping) and v and k not in _DATA_KEYED:
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


def _replace(merged: dict[str, Any], sources: dict[str, str], key: str) -> None:
    """Make room for a layer's ``key``: a value set at ``key`` replaces what lay above it (a
    single value where ``key`` now puts a mapping) and under it (a section it now sets whole),
    so that a mapping given for a single setting, or the reverse, reaches validation as one
    wrong value, named, instead of two shapes that do not fit together."""
    parts = key.split(".")
    above = {".".join(parts[:i]) for i in range(1, len(parts))}
    below = key + "."
    for old in [k for k in merged if k in above or k.startswith(below)]:
        del merged[old]
        sources.pop(old, None)


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "mapping"
    return "list" if isinstance(value, list) else type(value).__name__


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
    """A config file's settings, read within the task files' limits (size, depth, aliases) and
    with YAML 1.2 scalars; every problem is one ConfigError line naming the file (and line)."""
    from .errors import TaskError
    from .task import parse_document, read_text_file  # the task module imports the models layer

    try:
        text = read_text_file(path, "config file")
        data = parse_document(text, path, json_format=path.suffix == ".json")
    except TaskError as exc:
        raise ConfigError(exc.message, exc.hint) from None
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


# Type errors where a mapping or list is what the setting takes: their own message says more.
_SHAPE_ERRORS = ("dict_type", "model_type", "model_attributes_type", "list_type")


def _describe(err: ValidationError, sources: Mapping[str, str]) -> ConfigError:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    src = sources.get(key) or next(
        (s for k, s in sources.items() if k.startswith(key + ".") or key.startswith(k + ".")), "")
    if first["type"] == "extra_forbidden":
        return ConfigError(f"unknown setting '{key}'" + (f" in {src}" if src else ""),
                           "remove it or check its spelling (`prompt-tuner config show` lists keys)")
    where = f" (from {src})" if src else ""
    given = first.get("input")
    if isinstance(given, dict | list) and first["type"].endswith("_type") \
            and first["type"] not in _SHAPE_ERRORS:
        return ConfigError(f"setting '{key}' takes a single value, not a {_kind(given)}{where}",
                           "write one value there")
    return ConfigError(f"setting '{key}': {first['msg']}{where}", "fix the value")


def load_settings(
    *,
    config_file: Path | None = None,
    profile: str | None = None,
    flags: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
) -> LoadedSettings:
    """Merge every layer, validate once, and remember where each value came from.

    ``flags`` are dotted keys (``tune.rounds``), as the CLI's flags set them; ``None`` values
    are skipped. ``cwd``: where to look for a ``prompt-tuner.yaml`` (default: the working
    directory); ``config_file`` names one instead.

    Examples:
        >>> from core import load_settings
        >>> loaded = load_settings(profile="quick", flags={"budget.max_calls": 50})
        >>> loaded.settings.tune.variations, loaded.settings.budget.max_calls
        (2, 50)
        >>> loaded.sources["tune.variations"], loaded.sources["budget.max_calls"]
        ('profile quick', 'flag')
        >>> loaded.settings.models.target
        'embedded'

        A bad value is one ``ConfigError`` line naming the setting and where it came from:

        >>> from core import ConfigError
        >>> try:
        ...     load_settings(flags={"tune.rounds": 0})
        ... except ConfigError as exc:
        ...     print(exc.message)
        setting 'tune.rounds': Input should be greater than or equal to 1 (from flag)
    """
    file_path = find_config_file(config_file, cwd)
    file_layer = read_config_file(file_path) if file_path else {}
    env_layer = _env_layer()
    flag_layer = _unflatten({k: v for k, v in (flags or {}).items() if v is not None})

    user_profiles = file_layer.get("profiles") or {}
    if not isinstance(user_profiles, dict):
        raise ConfigError(f"{file_path}: 'profiles' must be a mapping", "fix the config file")
    for key, value in user_profiles.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{file_path}: profile '{key}' must be a mapping of settings",
                              "fix the config file")
    name = (profile or flag_layer.get("profile") or env_layer.get("profile")
            or file_layer.get("profile") or "default")
    if not isinstance(name, str):
        raise ConfigError(f"{file_path}: setting 'profile' must be the name of a profile, "
                          f"not a {_kind(name)}", "write e.g. profile: quick")
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
            _replace(merged, sources, key)
            merged[key] = value
            sources[key] = label
    if config_file is None and file_path is not None:
        _refuse_found_bindings(file_path, file_layer, user_profiles)
    try:
        settings = Settings.model_validate(_unflatten(merged))
    except ValidationError as exc:
        raise _describe(exc, sources) from None
    return LoadedSettings(settings, sources, load_secrets(settings), file_path)


def load_secrets(settings: Settings) -> Secrets:
    """The API keys in the environment: the providers' three and those ``key_bindings`` names."""
    return Secrets().with_bound(settings.key_bindings.values(), os.environ)


def _refuse_found_bindings(path: Path, file_layer: Mapping[str, Any],
                           profiles: Mapping[str, Any]) -> None:
    """A config file found in the working directory may come with a cloned repository or an
    opened workspace, like a task file: it must not choose where API keys go."""
    layers = [file_layer, *(p for p in profiles.values() if isinstance(p, Mapping))]
    if any("key_bindings" in layer for layer in layers):
        raise ConfigError(f"{path}: key_bindings in a config file found in the working directory "
                          "is not trusted to send API keys",
                          f"name the file with --config {path}, or set PROMPT_TUNER_KEY_BINDINGS")


def describe_settings(loaded: LoadedSettings) -> list[tuple[str, str, str]]:
    """(key, value, source) for every setting, secrets masked.

    Examples:
        >>> from core import describe_settings, load_settings
        >>> rows = describe_settings(load_settings(flags={"tune.seed": 7}))
        >>> [row for row in rows if row[0] in ("tune.seed", "tune.rounds")]
        [('tune.rounds', '4', 'default'), ('tune.seed', '7', 'flag')]
        >>> [row for row in rows if row[0] == "secrets.OPENAI_API_KEY"]
        [('secrets.OPENAI_API_KEY', '(not set)', 'environment')]
    """
    rows = []
    flat = _flatten(loaded.settings.model_dump(mode="json"))
    for key in sorted(flat):
        src = loaded.sources.get(key) or next(
            (s for k, s in loaded.sources.items() if key.startswith(k + ".")), "default")
        rows.append((key, json.dumps(flat[key]), src))
    bound = loaded.settings.key_bindings.values()
    for name in dict.fromkeys([*PROVIDER_KEYS, *sorted(bound)]):
        shown = "'**********'" if loaded.secrets.get(name) else "(not set)"
        rows.append((f"secrets.{name}", shown, "environment"))
    return rows


def resolve_models(loaded: LoadedSettings, task_models: Any) -> Settings:
    """Model roles: a task file's ``models:`` beats config files and profiles, while the
    environment and flags beat the task file.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from core import load_settings, load_task, resolve_models
        >>> path = Path(tempfile.mkdtemp()) / "hi.yaml"
        >>> _ = path.write_text("{name: hi, prompt: Say hi, models: "
        ...                     "{target: 'ollama:qwen2.5:0.5b', judge: 'ollama:qwen2.5:7b'}}")
        >>> task = load_task(path)
        >>> loaded = load_settings(flags={"models.judge": "embedded"})  # a flag beats the file
        >>> models = resolve_models(loaded, task.models).models
        >>> models.target, models.optimizer, models.judge
        ('ollama:qwen2.5:0.5b', 'embedded', 'embedded')
    """
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
