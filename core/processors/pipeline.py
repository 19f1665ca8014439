"""Processors applied in order on one model's calls: ``before`` on the messages of a request
(before the request is built and its cache key computed), ``after`` on an answer's text (before
the answer is extracted and scored).

A processor that raises, or returns something that is not messages (or text), stops the run
with one line naming it: it is the user's code or configuration, and silently scoring around it
would report numbers nobody asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import TaskError
from ..models.base import Message
from .base import Processor, ProcessorContext, Role, is_hosted

if TYPE_CHECKING:
    from ..config import Settings
    from ..task import Task

ROLES = ("system", "user", "assistant")


def _failed(p: Processor, where: str, exc: BaseException) -> TaskError:
    why = f"{type(exc).__name__}: {exc}"
    return TaskError(f"processor {p.name!r} failed {where}: {why}"[:400], "fix the processor")


def _messages(got: Any, p: Processor) -> tuple[Message, ...]:
    if isinstance(got, Sequence) and not isinstance(got, str) and got and all(
            isinstance(m, Message) and m.role in ROLES and isinstance(m.content, str) for m in got):
        return tuple(got)
    raise TaskError(f"processor {p.name!r}: before_request returned {type(got).__name__}, not a "
                    "non-empty list of messages", "return the messages, changed or not")


class Pipeline:
    """The processors of one role's calls, with the context they are given."""

    def __init__(self, processors: Sequence[Processor], context: ProcessorContext) -> None:
        self.processors = tuple(processors)
        self.context = context

    def __bool__(self) -> bool:
        return bool(self.processors)

    def names(self) -> list[str]:
        return [p.name for p in self.processors]

    def before(self, messages: tuple[Message, ...], example: int | None = None
               ) -> tuple[Message, ...]:
        ctx = self.context.at(example)
        for p in self.processors:
            if p.before_request is None:
                continue
            try:
                got = p.before_request(messages, ctx)
            except Exception as exc:
                raise _failed(p, "before a request", exc) from None
            messages = _messages(got, p)
        return messages

    def after(self, text: str, example: int | None = None) -> str:
        ctx = self.context.at(example)
        for p in self.processors:
            if p.after_response is None:
                continue
            try:
                got = p.after_response(text, ctx)
            except Exception as exc:
                raise _failed(p, "on an answer", exc) from None
            if not isinstance(got, str):
                raise TaskError(f"processor {p.name!r}: after_response returned "
                                f"{type(got).__name__}, not text", "return the answer's text")
            text = got
        return text


def context_for(task: str, role: Role, spec: str) -> ProcessorContext:
    """The context of calls to the model ``spec`` (a model spec string) in ``role``."""
    from ..models.registry import parse_spec

    parsed = parse_spec(spec)
    return ProcessorContext(task=task, role=role, provider=parsed.kind,
                            hosted=is_hosted(parsed.kind, parsed.urls))


def pipeline_for(processors: Sequence[Processor], task: str, role: Role, spec: str) -> Pipeline:
    return Pipeline(processors, context_for(task, role, spec))


def target_pipeline(settings: Settings, task: Task) -> Pipeline:
    """The processors on a run's target calls: the settings' list, then the task's. Code
    references are imported: a run is where the caller has vouched for its task (the editor
    refuses code references before it starts one, ``lsp_server.trust``)."""
    from .registry import resolve

    processors = resolve([*settings.processors, *task.processors], import_code=True,
                         base_dir=task.base_dir())
    return pipeline_for(processors, task.name, "target", settings.models.target)
