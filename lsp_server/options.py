"""The server's settings: ``initializationOptions`` and the ``promptTuner`` section of
``workspace/configuration``, on top of the core's own configuration (config file, environment).

Editors send camelCase JSON; models, budget and store path become core settings flags, and
``settings`` passes any other core setting through by its dotted name (``tune.variations``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from core import ConfigError, LoadedSettings, load_settings

from .checks.base import CODES, Severity

OnResult = Literal["ask", "apply", "codeAction"]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Models(_Camel):
    target: str | None = None
    optimizer: str | None = None
    judge: str | None = None


class Budget(_Camel):
    max_calls: int | None = Field(default=None, ge=1)


class ServerOptions(_Camel):
    models: Models = Models()
    budget: Budget = Budget()
    store_path: str | None = None
    config_file: str | None = None
    profile: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict, description="core settings by dotted key")
    prompt_names: list[str] = Field(
        default_factory=lambda: ["*_PROMPT", "PROMPT", "*_PROMPT_TEMPLATE", "*_prompt"])
    severity: dict[str, Severity] = Field(default_factory=dict)
    context_tokens: int | None = Field(default=None, ge=1,
                                       description="the target's context when it is not embedded")
    debounce_ms: int = Field(default=100, ge=0, le=5000)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    offer_insignificant: bool = False
    on_result: OnResult = "ask"
    virtual_documents: bool = False
    trust_workspace: bool = Field(
        default=False, description="Optimize/Evaluate may import the workspace's custom metric code")

    def severity_of(self, code: str) -> Severity:
        return self.severity.get(code, CODES.get(code, "warning"))

    def flags(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.settings)
        for role in ("target", "optimizer", "judge"):
            value = getattr(self.models, role)
            if value:
                out[f"models.{role}"] = value
        if self.budget.max_calls is not None:
            out["budget.max_calls"] = self.budget.max_calls
        if self.store_path:
            out["store_path"] = self.store_path
        return out

    def core_settings(self, root: Path | None) -> LoadedSettings:
        """The core's settings with these on top (as flags: they win over file and env)."""
        config = Path(self.config_file) if self.config_file else None
        if config is not None and root is not None and not config.is_absolute():
            config = root / config
        return load_settings(config_file=config, profile=self.profile, flags=self.flags(), cwd=root)


def parse_options(raw: Any) -> ServerOptions:
    """Options from an editor's JSON; one clear ConfigError if they do not validate."""
    if raw is None:
        return ServerOptions()
    if isinstance(raw, dict) and isinstance(raw.get("promptTuner"), dict):
        raw = raw["promptTuner"]
    try:
        return ServerOptions.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"prompt-tuner-lsp setting '{where}': {err['msg']}",
                          "fix it in the editor's settings for prompt-tuner") from None
