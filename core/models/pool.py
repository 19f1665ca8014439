"""Several endpoints serving the same model, used as one adapter.

Each attempt goes to the healthy endpoint with the fewest outstanding requests. An endpoint that
drops connections, or fails ``max_failures`` times in a row, sits out a cool-down; the retry layer
then lands the next attempt on another endpoint.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConnectionFailed, ModelTimeout, TransientModelError
from .base import Adapter, Completion, Request

log = logging.getLogger(__name__)


@dataclass
class _Endpoint:
    adapter: Adapter
    outstanding: int = 0
    failures: int = 0
    down_until: float = 0.0
    sent: int = 0


class Pool:
    def __init__(
        self, adapters: Sequence[Adapter], *, cooldown_s: float = 30.0, max_failures: int = 3
    ) -> None:
        if not adapters:
            raise ValueError("a pool needs at least one endpoint")
        self._endpoints = [_Endpoint(a) for a in adapters]
        self._turn = itertools.count()
        self.cooldown_s = cooldown_s
        self.max_failures = max_failures
        first = adapters[0]
        self.kind = first.kind
        self.model = first.model
        self.context_size = first.context_size

    @property
    def endpoint(self) -> str:
        return ",".join(e.adapter.endpoint for e in self._endpoints)

    @property
    def identity(self) -> dict[str, Any]:
        ident = dict(self._endpoints[0].adapter.identity)
        ident["base_urls"] = sorted(e.adapter.endpoint for e in self._endpoints)
        return ident

    def sent_per_endpoint(self) -> dict[str, int]:
        return {e.adapter.endpoint: e.sent for e in self._endpoints}

    def count_tokens(self, request: Request) -> int:
        return self._endpoints[0].adapter.count_tokens(request)

    def _pick(self) -> _Endpoint:
        now = time.monotonic()
        healthy = [e for e in self._endpoints if e.down_until <= now]
        if not healthy:  # everyone is cooling down: try the one that comes back first
            return min(self._endpoints, key=lambda e: e.down_until)
        least = min(e.outstanding for e in healthy)
        tied = [e for e in healthy if e.outstanding == least]
        return tied[next(self._turn) % len(tied)]

    async def send(self, request: Request) -> Completion:
        ep = self._pick()
        ep.outstanding += 1
        ep.sent += 1
        try:
            completion = await ep.adapter.send(request)
        except TransientModelError as exc:
            ep.failures += 1
            hard = isinstance(exc, ConnectionFailed | ModelTimeout)
            if hard or ep.failures >= self.max_failures:
                ep.down_until = time.monotonic() + self.cooldown_s
                log.warning(
                    "endpoint %s out for %.0fs after: %s", ep.adapter.endpoint, self.cooldown_s, exc
                )
            raise
        finally:
            ep.outstanding -= 1
        ep.failures = 0
        ep.down_until = 0.0
        return completion

    async def aclose(self) -> None:
        for e in self._endpoints:
            await e.adapter.aclose()
