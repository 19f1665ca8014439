"""Model specs → adapters → call stacks.

A spec is ``KIND[:MODEL][@URL[,URL…]]``: ``embedded``, ``embedded:/path/model.gguf``,
``openai:gpt-4o-mini``, ``openai:qwen2.5@http://gpu1:8000/v1,http://gpu2:8000/v1``,
``lmstudio:MODEL``, ``ollama:MODEL``, ``anthropic:MODEL``, ``huggingface:MODEL``.
Providers register a factory under their kind; built-ins register the same way plugins do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ..errors import ConfigError, ModelSpecError
from .base import Adapter
from .embedded import EmbeddedAdapter
from .http import HttpAdapter, Timeouts
from .pool import Pool
from .providers import (
    ANTHROPIC_URL,
    HUGGINGFACE_URL,
    LMSTUDIO_URL,
    OLLAMA_URL,
    OPENAI_URL,
    AnthropicAdapter,
    HuggingFaceAdapter,
    OpenAIAdapter,
)

if TYPE_CHECKING:
    from ..config import Secrets, Settings


@dataclass(frozen=True)
class ModelSpec:
    kind: str
    model: str
    urls: tuple[str, ...]
    text: str


Factory = Callable[[ModelSpec, "Settings", "Secrets"], Adapter]
_factories: dict[str, Factory] = {}


def register_provider(kind: str, factory: Factory) -> None:
    _factories[kind] = factory


def known_kinds() -> list[str]:
    return sorted(_factories)


def parse_spec(text: str) -> ModelSpec:
    spec = text.strip()
    if not spec:
        raise ModelSpecError("empty model spec", "use e.g. embedded or openai:MODEL@URL")
    kind, _, rest = spec.partition(":")
    kind = kind.lower()
    if kind == "hf":
        kind = "huggingface"
    if kind not in _factories:
        raise ModelSpecError(f"unknown model kind '{kind}' in '{text}'",
                             f"use one of: {', '.join(known_kinds())}")
    if kind == "embedded":
        return ModelSpec(kind, rest, (), spec)
    model, _, url_part = rest.partition("@")
    if not model:
        raise ModelSpecError(f"'{text}' names no model", f"write {kind}:MODEL_NAME[@BASE_URL]")
    urls = tuple(u.strip().rstrip("/") for u in url_part.split(",") if u.strip())
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ModelSpecError(f"bad base URL '{url}' in '{text}'",
                                 "write a full URL such as http://127.0.0.1:8080/v1")
    return ModelSpec(kind, model, urls, spec)


def _secret(value: object) -> str | None:
    return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]


def _http(
    cls: type[HttpAdapter], spec: ModelSpec, settings: Settings, default_url: str,
    key: str | None, key_name: str,
) -> Adapter:
    urls = spec.urls or (default_url,)
    needs_key = any(u.startswith(default_url) for u in urls) and default_url.startswith("https://")
    if needs_key and not key:
        raise ConfigError(f"{key_name} is not set for {spec.text}",
                          f"export {key_name}=…, or point the spec at a local server with @URL")
    t = settings.timeouts
    timeouts = Timeouts(connect=t.connect, read=t.read, write=t.write, pool=t.pool, total=t.total)
    conns = max(settings.limits_for(spec.text).max_in_flight, 1) + 4
    adapters: list[Adapter] = [
        cls(spec.model, url, api_key=key, timeouts=timeouts, max_connections=conns) for url in urls
    ]
    if len(adapters) == 1:
        return adapters[0]
    return Pool(adapters, cooldown_s=settings.pool.cooldown_s,
                max_failures=settings.pool.max_failures)


def _embedded(spec: ModelSpec, settings: Settings, secrets: Secrets) -> Adapter:
    path = Path(spec.model).expanduser() if spec.model else None
    return EmbeddedAdapter(path, n_ctx=settings.embedded.n_ctx,
                           n_threads=settings.embedded.n_threads)


def _openai_like(default_url: str) -> Factory:
    def make(spec: ModelSpec, settings: Settings, secrets: Secrets) -> Adapter:
        return _http(OpenAIAdapter, spec, settings, default_url,
                     _secret(secrets.openai_api_key), "OPENAI_API_KEY")
    return make


def _anthropic(spec: ModelSpec, settings: Settings, secrets: Secrets) -> Adapter:
    return _http(AnthropicAdapter, spec, settings, ANTHROPIC_URL,
                 _secret(secrets.anthropic_api_key), "ANTHROPIC_API_KEY")


def _huggingface(spec: ModelSpec, settings: Settings, secrets: Secrets) -> Adapter:
    return _http(HuggingFaceAdapter, spec, settings, HUGGINGFACE_URL,
                 _secret(secrets.hf_token), "HF_TOKEN")


register_provider("embedded", _embedded)
register_provider("openai", _openai_like(OPENAI_URL))
register_provider("lmstudio", _openai_like(LMSTUDIO_URL))
register_provider("ollama", _openai_like(OLLAMA_URL))
register_provider("anthropic", _anthropic)
register_provider("huggingface", _huggingface)


def build_adapter(spec_text: str, settings: Settings, secrets: Secrets) -> Adapter:
    spec = parse_spec(spec_text)
    return _factories[spec.kind](spec, settings, secrets)
