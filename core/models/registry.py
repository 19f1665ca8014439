"""Model specs → adapters → call stacks.

A spec is ``KIND[:MODEL][@URL[,URL…]]``: ``embedded``, ``embedded:/path/model.gguf``,
``openai:gpt-4o-mini``, ``openai:qwen2.5@http://gpu1:8000/v1,http://gpu2:8000/v1``,
``lmstudio:MODEL``, ``ollama:MODEL``, ``anthropic:MODEL``, ``huggingface:MODEL``.
Providers register a factory under their kind; built-ins register the same way plugins do.

A provider's key is attached only where ``endpoints`` allows it: the provider's own https host,
or an endpoint the operator bound a key to (``key_bindings``). Any other URL gets no key.
Parsing never raises anything but :class:`ModelSpecError`, whatever the text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import plugins
from ..errors import ConfigError, ModelSpecError
from .base import Adapter
from .embedded import EmbeddedAdapter
from .endpoints import BadURL, bound_key_name, official_key_name, parse_url
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
    """A parsed model spec ``KIND[:MODEL][@URL[,URL…]]`` (see the module's docstring).

    Examples:
        >>> from core.models import parse_spec
        >>> spec = parse_spec("openai:qwen2.5@http://gpu1:8000/v1,http://gpu2:8000/v1/")
        >>> spec.kind, spec.model, spec.urls
        ('openai', 'qwen2.5', ('http://gpu1:8000/v1', 'http://gpu2:8000/v1'))
        >>> parse_spec("embedded").kind, parse_spec("hf:HuggingFaceTB/SmolLM2-1.7B-Instruct").kind
        ('embedded', 'huggingface')
        >>> parse_spec("gpt4")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        core.errors.ModelSpecError: unknown model kind 'gpt4' in 'gpt4' (use one of: anthropic, embedded, ...)
    """

    kind: str
    model: str
    urls: tuple[str, ...]
    text: str


Factory = Callable[[ModelSpec, "Settings", "Secrets"], Adapter]


def _factories() -> dict[str, Factory]:
    """Every model kind a plugin (the built-ins included, ``core.builtins``) registered."""
    return plugins.registered("provider")


def register_provider(kind: str, factory: Factory) -> None:
    """Add a model kind from code in this process; a package adds one through its plugin's
    ``register_providers`` hook (``core.plugins``)."""
    plugins.add("provider", kind, factory)


def known_kinds() -> list[str]:
    """The model kinds a spec may start with: the built-in providers and the plugins'.

    Examples:
        >>> from core import known_kinds
        >>> [k for k in known_kinds() if k in ("embedded", "openai", "ollama", "anthropic")]
        ['anthropic', 'embedded', 'ollama', 'openai']
    """
    return sorted(_factories())


def one_line(text: str, limit: int = 120) -> str:
    """Text from a user, fit for a one-line message: escaped control characters, cut short."""
    flat = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_spec(text: str) -> ModelSpec:
    spec = text.strip()
    if not spec:
        raise ModelSpecError("empty model spec", "use e.g. embedded or openai:MODEL@URL")
    kind, _, rest = spec.partition(":")
    kind = kind.lower()
    if kind == "hf":
        kind = "huggingface"
    if kind not in _factories():
        raise ModelSpecError(f"unknown model kind '{one_line(kind, 40)}' in '{one_line(text)}'",
                             f"use one of: {', '.join(known_kinds())}")
    if kind == "embedded":
        if not rest.isprintable():
            raise ModelSpecError(f"the model file in '{one_line(text)}' holds control characters",
                                 "write embedded:/path/to/model.gguf")
        return ModelSpec(kind, rest.strip(), (), spec)
    model, _, url_part = rest.partition("@")
    model = model.strip()
    if not model:
        raise ModelSpecError(f"'{one_line(text)}' names no model", f"write {kind}:MODEL_NAME[@BASE_URL]")
    if not model.isprintable():
        raise ModelSpecError(f"the model name in '{one_line(text)}' holds control characters",
                             f"write {kind}:MODEL_NAME[@BASE_URL]")
    urls = tuple(u.strip().rstrip("/") for u in url_part.split(",") if u.strip())
    if url_part.strip() and not urls:
        raise ModelSpecError(f"'{one_line(text)}' has an @ but no URL", "write MODEL@BASE_URL")
    for url in urls:
        try:
            parse_url(url)
        except BadURL as exc:
            raise ModelSpecError(f"bad base URL '{one_line(url)}' in a model spec: {exc}",
                                 "write a full URL such as http://127.0.0.1:8080/v1") from None
    return ModelSpec(kind, model, urls, spec)


def api_key_for(url: str, spec: ModelSpec, settings: Settings, secrets: Secrets,
                provider_key: str) -> str | None:
    """The key a request to ``url`` carries: the one the operator bound to that endpoint, else the
    provider's own key on the provider's own host, else none. A key that should go there but is
    not set is a ConfigError."""
    bound = bound_key_name(url, settings.key_bindings)
    name = bound or official_key_name(url, provider_key)
    if name is None:
        return None
    key = secrets.get(name)
    if not key:
        hint = (f"export {name}=…, or drop the key_bindings entry that covers {url}" if bound
                else f"export {name}=…, or point the spec at a local server with @URL")
        raise ConfigError(f"{name} is not set for {one_line(spec.text)}", hint)
    return key


def _http(
    cls: type[HttpAdapter], spec: ModelSpec, settings: Settings, secrets: Secrets,
    default_url: str, provider_key: str,
) -> Adapter:
    urls = spec.urls or (default_url,)
    keys = [api_key_for(url, spec, settings, secrets, provider_key) for url in urls]
    t = settings.timeouts
    timeouts = Timeouts(connect=t.connect, read=t.read, write=t.write, pool=t.pool, total=t.total)
    conns = max(settings.limits_for(spec.text).max_in_flight, 1) + 4
    adapters: list[Adapter] = [
        cls(spec.model, url, api_key=key, timeouts=timeouts, max_connections=conns)
        for url, key in zip(urls, keys, strict=True)
    ]
    if len(adapters) == 1:
        return adapters[0]
    return Pool(adapters, cooldown_s=settings.pool.cooldown_s,
                max_failures=settings.pool.max_failures)


def _embedded(spec: ModelSpec, settings: Settings, secrets: Secrets) -> Adapter:
    try:
        path = Path(spec.model).expanduser() if spec.model else None
    except RuntimeError:  # ~name of a user this machine does not know
        raise ConfigError(f"cannot expand '{one_line(spec.model)}': no such user's home",
                          "give embedded:/path/to/model.gguf") from None
    return EmbeddedAdapter(path, n_ctx=settings.embedded.n_ctx,
                           n_threads=settings.embedded.n_threads,
                           scheduling=settings.embedded.scheduling,
                           slots=settings.embedded.slots,
                           parallel=settings.embedded.parallel)


def _openai_like(default_url: str) -> Factory:
    def make(spec: ModelSpec, settings: Settings, secrets: Secrets) -> Adapter:
        return _http(OpenAIAdapter, spec, settings, secrets, default_url, "OPENAI_API_KEY")
    return make


def _anthropic(spec: ModelSpec, settings: Settings, secrets: Secrets) -> Adapter:
    return _http(AnthropicAdapter, spec, settings, secrets, ANTHROPIC_URL, "ANTHROPIC_API_KEY")


def _huggingface(spec: ModelSpec, settings: Settings, secrets: Secrets) -> Adapter:
    return _http(HuggingFaceAdapter, spec, settings, secrets, HUGGINGFACE_URL, "HF_TOKEN")


def builtin_providers() -> dict[str, Factory]:
    return {"embedded": _embedded, "openai": _openai_like(OPENAI_URL),
            "lmstudio": _openai_like(LMSTUDIO_URL), "ollama": _openai_like(OLLAMA_URL),
            "anthropic": _anthropic, "huggingface": _huggingface}


def build_adapter(spec_text: str, settings: Settings, secrets: Secrets) -> Adapter:
    spec = parse_spec(spec_text)
    return _factories()[spec.kind](spec, settings, secrets)
