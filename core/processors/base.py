"""What a processor is and what it is told about the call it sits on.

A processor changes a request before it is sent (``before_request``), an answer before it is
scored (``after_response``), or both. Either hook may be absent. The raw reply is what the cache
and the store keep; what ``after_response`` returns is what the metrics read. Because
``before_request`` runs before the cache key is computed, a processor that changes what is sent
changes the key too, so a cache never hands a run with the processor an answer to a request it
would not have sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ..models.base import Message

Role = Literal["target", "optimizer", "judge"]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

BeforeRequest = Callable[[tuple[Message, ...], "ProcessorContext"], Sequence[Message]]
AfterResponse = Callable[[str, "ProcessorContext"], str]
ProcessorFactory = Callable[..., "Processor"]  # the settings of a `{name: …, …}` entry as keywords


@dataclass(frozen=True)
class ProcessorContext:
    """Where a call goes and what it is for. ``hosted`` is False only for the embedded model and
    servers on this machine (127.0.0.1, localhost, ::1): those never see data leave it."""

    task: str
    role: Role
    provider: str              # the model kind: openai, anthropic, huggingface, embedded, …
    hosted: bool
    example: int | None = None  # the example's index in the split being scored

    def at(self, example: int | None) -> ProcessorContext:
        return replace(self, example=example)


@dataclass(frozen=True)
class Processor:
    """A named pair of hooks; at least one is given."""

    name: str
    before_request: BeforeRequest | None = None
    after_response: AfterResponse | None = None


def is_hosted(kind: str, urls: Sequence[str]) -> bool:
    """Whether a model reached as ``kind`` at ``urls`` runs off this machine. A provider without
    a URL goes to its own (hosted) API; the embedded model never leaves the process."""
    if kind == "embedded":
        return False
    if not urls:
        return True
    return any(not _local(url) for url in urls)


def _local(url: str) -> bool:
    from ..models.endpoints import BadURL, parse_url

    try:
        host = parse_url(url).host
    except BadURL:
        return False
    return host in LOCAL_HOSTS or host.startswith("127.")
