"""One call stack for every request.

validate → cache lookup → (single flight) → budget → [rate limit → timeout(adapter)] × retries
→ cache store → usage accounting.

The limiter wraps each attempt, not the whole retry loop: a retry is a request the server sees,
so it counts against requests-per-minute and in-flight limits, and a request sleeping in
backoff does not hold an in-flight slot.

Every attempt's answer and error pass through the ``redactor`` before anything else sees them:
a server that echoes an API key hands the cache, the store and the logs ``[redacted]``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from ..budget import Budget, Usage
from ..errors import (
    ContextLengthExceeded,
    ModelError,
    ModelTimeout,
    ModelUnavailable,
    RequestRejected,
    TransientModelError,
)
from ..redact import Redactor
from .base import Adapter, Completion, Request, request_hash
from .cache import ResponseCache
from .limits import Limiter, RateLimits
from .truncate import Step, fit

log = logging.getLogger(__name__)

PriceFn = Callable[[Completion], float]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.5
    max_s: float = 30.0
    jitter_s: float = 0.5
    max_retry_after_s: float = 120.0


class _Wait:
    """Exponential backoff with jitter, but never shorter than the server's Retry-After."""

    def __init__(self, policy: RetryPolicy, offset: int = 0) -> None:
        self.policy = policy
        self.offset = offset  # attempts made before tenacity took over

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.delay(state.attempt_number + self.offset, exc)

    def delay(self, failed_attempts: int, exc: BaseException | None) -> float:
        p = self.policy
        wait = min(p.max_s, p.initial_s * 2 ** (failed_attempts - 1))
        wait += random.uniform(0, p.jitter_s) if p.jitter_s else 0.0
        if isinstance(exc, TransientModelError) and exc.retry_after is not None:
            wait = max(wait, min(exc.retry_after, self.policy.max_retry_after_s))
        return float(wait)


class ModelClient:
    """A Model: an adapter behind the full call stack. ``name`` is the spec string."""

    def __init__(
        self,
        name: str,
        adapter: Adapter,
        *,
        cache: ResponseCache | None = None,
        limits: RateLimits | None = None,
        retry: RetryPolicy | None = None,
        attempt_timeout_s: float | None = None,
        budget: Budget | None = None,
        truncation: tuple[Step, ...] = ("shrink", "drop_examples"),
        price: PriceFn | None = None,
        on_call: Callable[[str, Request, Completion], None] | None = None,
        replay: Mapping[str, Completion] | None = None,
        redactor: Redactor | None = None,
        history: Callable[[str], Completion | None] | None = None,
    ) -> None:
        self.name = name
        self.adapter = adapter
        self.cache = cache
        self.limiter = Limiter(limits or RateLimits())
        self.retry = retry or RetryPolicy()
        self.attempt_timeout_s = attempt_timeout_s
        self.budget = budget
        self.truncation = truncation
        self.price = price
        self.on_call = on_call
        # Answers this run already paid for (a resumed run): served before the cache, so a
        # resume never pays twice even with the cache off or its last writes lost to a kill.
        self.replay = replay or {}
        # Answers earlier runs in the store received for the same request (``cache.history``):
        # asked when the cache has none, so a store shared by the fronts never pays twice.
        self.history = history
        self.redactor = redactor or Redactor()
        self.usage = Usage()
        self._identity = adapter.identity
        self._inflight: dict[str, asyncio.Future[Completion]] = {}

    # -- public -----------------------------------------------------------------------------
    def key(self, request: Request) -> str:
        return request_hash(self._identity, request)

    async def complete(self, request: Request) -> Completion:
        request, notes, prompt_tokens = self._validate(request)
        key = self.key(request)
        replayed = self.replay.get(key)
        if replayed is not None:
            self.usage.cache_hits += 1
            return replace(replayed, cached=True)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.cache_hits += 1
                return hit
        if self.history is not None:
            earlier = self.history(key)
            if earlier is not None:
                self.usage.cache_hits += 1
                self.usage.history_hits += 1
                if self.cache is not None:
                    self.cache.put(key, earlier)
                return replace(earlier, cached=True)
        shared = self._inflight.get(key)
        if shared is not None:  # the same request is already on its way: wait for that one
            self.usage.cache_hits += 1
            return replace(await asyncio.shield(shared), cached=True)
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            completion = await self._send_paid(request, notes, prompt_tokens)
            if self.cache is not None:
                self.cache.put(key, completion)
            future.set_result(completion)
            if self.on_call is not None:
                self.on_call(key, request, completion)
            return completion
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[key]

    # -- the layers ---------------------------------------------------------------------------
    def _validate(self, request: Request) -> tuple[Request, list[str], int]:
        """Reject malformed requests; cut one that overflows the context. Returns the request to
        send, what was cut, and its prompt token count (counted once, reused below)."""
        if not request.messages:
            raise RequestRejected(f"{self.name}: a request needs at least one message",
                                  "give the prompt some text", model=self.name)
        if all(not m.content.strip() for m in request.messages):
            raise RequestRejected(f"{self.name}: every message of the request is empty",
                                  "give the prompt some text", model=self.name)
        if request.max_tokens < 1:
            raise RequestRejected(f"{self.name}: max_tokens must be at least 1",
                                  "raise max_tokens", model=self.name)
        tokens = self.adapter.count_tokens(request)
        ctx = self.adapter.context_size
        if ctx is None:
            return request, [], tokens
        room = ctx - request.max_tokens
        if room < 16:
            raise ContextLengthExceeded(
                f"{self.name}: max_tokens={request.max_tokens} leaves no room for a prompt "
                f"in a {ctx}-token context", "lower max_tokens", model=self.name)
        if tokens <= room:
            return request, [], tokens
        return self._truncate(request, room, tokens)

    def _truncate(self, request: Request, room: int,
                  before: int) -> tuple[Request, list[str], int]:
        fitted, notes = fit(request, room, self.adapter.count_tokens, self.truncation)
        after = self.adapter.count_tokens(fitted)
        if after > room:
            raise ContextLengthExceeded(
                f"{self.name}: the prompt needs {before} tokens but the context leaves {room}, "
                "and truncation could not make it fit",
                "shorten the prompt or its inputs, or use a model with a longer context",
                model=self.name, endpoint=self.adapter.endpoint)
        for note in notes:
            log.warning("%s: request too long (%d tokens, room %d): %s",
                        self.name, before, room, note)
        return fitted, notes, after

    async def _send_paid(self, request: Request, notes: list[str],
                         prompt_tokens: int) -> Completion:
        reserve = prompt_tokens + request.max_tokens
        if self.budget is not None:
            self.budget.reserve(reserve)
        completion: Completion | None = None
        try:
            completion = await self._send_fitting(request, notes, prompt_tokens)
            return completion
        finally:
            if self.budget is not None:
                sent = completion is not None
                tokens = completion.prompt_tokens + completion.completion_tokens if completion else 0
                cost = self.price(completion) if completion and self.price else 0.0
                self.budget.settle(reserve, sent=sent, tokens=tokens, cost=cost)

    async def _send_fitting(self, request: Request, notes: list[str],
                            prompt_tokens: int) -> Completion:
        """Send; when the server says 'too long', cut and try again (up to 3 times)."""
        for _ in range(3):
            try:
                completion = await self._send_with_retries(request, prompt_tokens)
            except ContextLengthExceeded:
                if not self.truncation:
                    raise
                request, more, prompt_tokens = self._truncate(
                    request, int(prompt_tokens * 0.75), prompt_tokens)
                if not more:
                    raise
                notes = notes + more
                continue
            self._account(completion)
            return replace(completion, notes=tuple(notes)) if notes else completion
        raise ContextLengthExceeded(
            f"{self.name}: the server kept rejecting the request as too long",
            "shorten the prompt or use a model with a longer context",
            model=self.name, endpoint=self.adapter.endpoint)

    async def _send_with_retries(self, request: Request, prompt_tokens: int) -> Completion:
        tokens = prompt_tokens + request.max_tokens
        self.usage.attempts += 1
        try:  # the first attempt needs no retry machinery
            return await self._attempt(request, tokens)
        except TransientModelError as first:
            if self.retry.attempts <= 1:
                raise self._gave_up(first) from first
            last: TransientModelError = first
        except ModelError:
            self.usage.failures += 1
            raise
        await asyncio.sleep(_Wait(self.retry).delay(1, last))
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.retry.attempts - 1),
                wait=_Wait(self.retry, offset=1),
                retry=retry_if_exception_type(TransientModelError),
                reraise=True,
            ):
                with attempt:
                    self.usage.retries += 1
                    self.usage.attempts += 1
                    log.info("%s: retry %d after %s", self.name, attempt.retry_state.attempt_number,
                             last)
                    try:
                        return await self._attempt(request, tokens)
                    except TransientModelError as exc:
                        last = exc
                        raise
        except TransientModelError as exc:
            raise self._gave_up(exc) from exc
        except ModelError:
            self.usage.failures += 1
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _gave_up(self, exc: TransientModelError) -> ModelUnavailable:
        self.usage.failures += 1
        endpoint = exc.endpoint or self.adapter.endpoint
        return ModelUnavailable(
            f"{self.name} at {endpoint} failed after {self.retry.attempts} attempts; "
            f"last failure: {exc.message}",
            "check that the server is up, or raise retry.attempts / timeouts.total",
            model=self.name, endpoint=endpoint,
        )

    async def _attempt(self, request: Request, tokens: int) -> Completion:
        """One attempt, its answer and its error with every configured secret redacted."""
        try:
            completion = await self._attempt_raw(request, tokens)
        except ModelError as exc:
            self.redactor.error(exc)
            raise
        if not self.redactor:
            return completion
        return replace(completion, text=self.redactor.text(completion.text))

    async def _attempt_raw(self, request: Request, tokens: int) -> Completion:
        async with self.limiter.slot(tokens):
            timeout = self.attempt_timeout_s
            if timeout is None:
                return await self.adapter.send(request)
            try:
                async with asyncio.timeout(timeout):
                    return await self.adapter.send(request)
            except TimeoutError:
                raise ModelTimeout(
                    f"no reply within {timeout:.1f}s", model=self.name,
                    endpoint=self.adapter.endpoint) from None

    def _account(self, completion: Completion) -> None:
        u = self.usage
        u.calls += 1
        u.prompt_tokens += completion.prompt_tokens
        u.cached_prompt_tokens += completion.cached_prompt_tokens
        u.completion_tokens += completion.completion_tokens
        u.latencies.append(completion.latency_s)
        if self.price is not None:
            u.cost += self.price(completion)
        log.debug("%s: %d+%d tokens in %.3fs (%s)", self.name, completion.prompt_tokens,
                  completion.completion_tokens, completion.latency_s, completion.finish_reason)

    def stats(self) -> dict[str, Any]:
        return {**self.usage.summary(), "peak_in_flight": self.limiter.peak_in_flight,
                "rate_wait_s": round(self.limiter.waited_s, 3)}

    async def aclose(self) -> None:
        await self.adapter.aclose()
