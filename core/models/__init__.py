"""The model layer: specs, adapters, the call stack, and a hub that owns them for a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..budget import Budget, Usage
from ..redact import Redactor, protect_logs
from .base import Adapter, Completion, Message, Model, Request, request_hash
from .cache import ResponseCache
from .limits import RateLimits
from .registry import ModelSpec, build_adapter, known_kinds, parse_spec, register_provider
from .stack import ModelClient, RetryPolicy

if TYPE_CHECKING:
    from ..config import Price, Secrets, Settings

__all__ = [
    "Adapter", "Completion", "Message", "Model", "ModelClient", "ModelHub", "ModelSpec",
    "RateLimits", "Request", "ResponseCache", "RetryPolicy", "build_adapter", "known_kinds",
    "parse_spec", "price_fn", "register_provider", "request_hash",
]


def price_fn(price: Price | None) -> Callable[[Completion], float] | None:
    if price is None:
        return None

    def cost(c: Completion) -> float:
        return (c.prompt_tokens * price.input_per_mtok
                + c.completion_tokens * price.output_per_mtok) / 1e6
    return cost


class ModelHub:
    """One ModelClient per spec for a run: shared cache, shared budget, shared HTTP clients.

    Examples:
        Ask the embedded model one question (in-process, offline), then close the hub:

        >>> import asyncio
        >>> from core import Completion, Message, ModelHub, Request, Secrets, load_settings
        >>> settings = load_settings().settings
        >>> async def ask(question: str) -> Completion:
        ...     hub = ModelHub(settings, Secrets())
        ...     try:
        ...         request = Request.chat([Message("user", question)], max_tokens=12)
        ...         return await hub.get("embedded").complete(request)
        ...     finally:
        ...         await hub.aclose()
        >>> answer = asyncio.run(ask("What is the capital of France?"))
        >>> answer.model, answer.finish_reason in ("stop", "length"), 0 < answer.completion_tokens <= 12
        ('SmolLM2-135M-Instruct.Q4_1.gguf', True, True)

        The same request again is answered by the response cache, at no cost:

        >>> again = asyncio.run(ask("What is the capital of France?"))
        >>> again.cached, again.text == answer.text
        (True, True)
    """

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        *,
        budget: Budget | None = None,
        cache: ResponseCache | None = None,
        use_cache: bool = True,
        on_call: Callable[[str, str, Request, Completion], None] | None = None,
        replay: dict[str, Completion] | None = None,
        history: Callable[[str], Completion | None] | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.budget = budget
        if cache is None and use_cache and settings.cache.enabled:
            cache = ResponseCache(settings.cache_file(), ttl_s=settings.cache.ttl_s)
        self.cache = cache
        self._on_call = on_call
        self._replay = replay or {}
        # earlier runs' answers: only where answers are reused at all (the cache is on)
        self._history = history if self.cache is not None else None
        self._clients: dict[str, ModelClient] = {}
        # Every configured key, redacted from answers, model errors and log records.
        self.redactor = Redactor(secrets.all_values())
        protect_logs(self.redactor)

    def get(self, spec: str) -> ModelClient:
        if spec not in self._clients:
            s = self.settings
            adapter = build_adapter(spec, s, self.secrets)
            limits = s.limits_for(spec)
            on_call = None
            if self._on_call is not None:
                hook = self._on_call

                def on_call(key: str, req: Request, comp: Completion, _spec: str = spec) -> None:
                    hook(_spec, key, req, comp)
            self._clients[spec] = ModelClient(
                spec, adapter, cache=self.cache, limits=limits,
                retry=RetryPolicy(attempts=s.retry.attempts, initial_s=s.retry.initial_s,
                                  max_s=s.retry.max_s, jitter_s=s.retry.jitter_s),
                # An in-process model cannot be interrupted: a timeout would only queue the
                # same work again behind the abandoned call.
                attempt_timeout_s=None if adapter.kind == "embedded" else s.timeouts.total,
                budget=self.budget,
                truncation=tuple(s.truncation), price=price_fn(s.prices.get(adapter.model)),
                on_call=on_call, replay=self._replay, redactor=self.redactor,
                history=self._history,
            )
        return self._clients[spec]

    def clients(self) -> list[ModelClient]:
        return list(self._clients.values())

    def usage(self) -> Usage:
        total = Usage()
        for client in self._clients.values():
            total.add(client.usage)
        return total

    def stats(self) -> dict[str, dict[str, Any]]:
        return {spec: c.stats() for spec, c in self._clients.items()}

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self.cache is not None:
            self.cache.close()
