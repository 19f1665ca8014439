"""The model contract: a Request goes in, a Completion comes out.

``Model`` is what the engine, strategies and metrics call. ``Adapter`` is what a provider module
implements: one attempt at one request against one endpoint, no retries, no cache. The call
stack (``stack.py``) turns an Adapter into a Model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn; a prompt is a tuple of them.

    Examples:
        >>> from core import Message
        >>> Message("system", "Answer in one word.")
        Message(role='system', content='Answer in one word.')
    """

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Request:
    """Everything that can change a model's answer, and nothing else.

    Examples:
        >>> from core import Message, Request
        >>> request = Request.chat([{"role": "user", "content": "Hi"}], max_tokens=8, stop=["\\n"])
        >>> request.messages, request.max_tokens, request.stop
        ((Message(role='user', content='Hi'),), 8, ('\\n',))
        >>> request.key_dict()["seed"], request.with_messages((Message("user", "Bye"),)).text_chars()
        (0, 3)
    """

    messages: tuple[Message, ...]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    # Provider-specific body fields (e.g. ``repeat_penalty`` for llama.cpp servers). Part of the
    # cache key, sent verbatim in the request body.
    extra: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def chat(cls, messages: list[Message] | list[dict[str, str]], **params: Any) -> Request:
        msgs = tuple(m if isinstance(m, Message) else Message(m["role"], m["content"])  # type: ignore[arg-type]
                     for m in messages)
        if "stop" in params and params["stop"] is not None:
            params["stop"] = tuple(params["stop"])
        if "extra" in params and isinstance(params["extra"], dict):
            params["extra"] = tuple(sorted(params["extra"].items()))
        return cls(messages=msgs, **params)

    def key_dict(self) -> dict[str, Any]:
        """Canonical, JSON-ready form used for cache keys and logs."""
        return {
            "messages": [[m.role, m.content] for m in self.messages],
            "max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
            "seed": self.seed, "stop": list(self.stop), "extra": dict(self.extra),
        }

    def text_chars(self) -> int:
        return sum(len(m.content) for m in self.messages)

    def with_messages(self, messages: tuple[Message, ...]) -> Request:
        return replace(self, messages=messages)


FinishReason = Literal["stop", "length", "error", "other"]


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's answer, with its token counts, latency and why it stopped (``cached``: it came
    from the response cache or the store, and cost no call; ``cached_prompt_tokens``: how many of
    the ``prompt_tokens`` sent the model reused from its KV cache instead of computing them).

    Examples:
        >>> from core import Completion
        >>> answer = Completion("positive", prompt_tokens=41, completion_tokens=2, model="gpt-4o-mini")
        >>> Completion.from_json(answer.to_json()) == answer
        True
        >>> answer.finish_reason, answer.cached
        ('stop', False)
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: FinishReason = "stop"
    cached: bool = False
    model: str = ""
    endpoint: str = ""
    notes: tuple[str, ...] = field(default=())  # e.g. what truncation cut
    cached_prompt_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "latency_s": self.latency_s,
            "finish_reason": self.finish_reason, "cached": self.cached, "model": self.model,
            "endpoint": self.endpoint, "notes": list(self.notes),
        }
        if self.cached_prompt_tokens:  # only where a provider says so: older records stay alike
            data["cached_prompt_tokens"] = self.cached_prompt_tokens
        return data

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Completion:
        d = dict(d)
        d["notes"] = tuple(d.get("notes", ()))
        return cls(**d)


def normalize_finish(reason: str | None) -> FinishReason:
    if reason in ("stop", "end_turn", "eos_token", "eos", "stop_sequence"):
        return "stop"
    if reason in ("length", "max_tokens"):
        return "length"
    return "other" if reason else "stop"


@runtime_checkable
class Model(Protocol):
    """Anything that answers chat messages."""

    name: str

    async def complete(self, request: Request) -> Completion: ...


class Adapter(Protocol):
    """One provider endpoint (or pool of them): one attempt, no retries, no cache."""

    kind: str
    model: str
    context_size: int | None

    @property
    def endpoint(self) -> str: ...

    @property
    def identity(self) -> dict[str, Any]:
        """What identifies this model for caching (kind, model, base URLs). Never secrets."""
        ...

    def count_tokens(self, request: Request) -> int: ...

    async def send(self, request: Request) -> Completion: ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A provider-agnostic token estimate (~3.5 chars a token for English, rounded up)."""
    return (len(text) * 2 + 6) // 7


def request_hash(identity: dict[str, Any], request: Request) -> str:
    """sha256 over canonical JSON of everything that can change the answer."""
    blob = json.dumps(
        {"model": identity, "request": request.key_dict()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
