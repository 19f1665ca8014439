"""The processors that come with prompt-tuner. ``BUILTIN_PROCESSORS`` maps each name to a
processor, or to a factory taking the entry's settings (``{name: aliases, map: {...}}``); the
registry registers them when it is first imported."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import TaskError
from ..models.base import Message
from .base import Processor, ProcessorContext, ProcessorFactory
from .pii import redact_personal

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
MAX_ALIASES = 1000
_ANSWER = re.compile(r"answer\s{0,20}(?:is\s{0,20})?[:：]|the\s{1,20}answer\s{1,20}is\b", re.I)
_DECOR = " \t*_`\"'"


def strip_think(text: str, context: ProcessorContext) -> str:
    """Without reasoning blocks: every ``<think>…</think>``, a reply that begins inside one (it
    has a ``</think>`` with no opening tag before it), and one left open (the model ran out of
    tokens thinking: nothing after it is an answer)."""
    lower = text.lower()
    out: list[str] = []
    pos = 0
    first_close = lower.find(THINK_CLOSE)
    first_open = lower.find(THINK_OPEN)
    if first_close != -1 and (first_open == -1 or first_close < first_open):
        pos = first_close + len(THINK_CLOSE)
    while True:
        start = lower.find(THINK_OPEN, pos)
        if start == -1:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        end = lower.find(THINK_CLOSE, start + len(THINK_OPEN))
        if end == -1:
            break
        pos = end + len(THINK_CLOSE)
    return "".join(out).strip()


def first_line(text: str, context: ProcessorContext) -> str:
    """The first line that is not blank."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def final_answer(text: str, context: ProcessorContext) -> str:
    """What follows the last "Answer:" / "Final answer:" / "The answer is" marker; without one,
    the last line that is not blank. Markdown emphasis and quotes around it are dropped."""
    hits = list(_ANSWER.finditer(text))
    if hits:
        rest = text[hits[-1].end():].strip()
        answer = rest.splitlines()[0] if rest else ""
    else:
        answer = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
    return answer.strip(_DECOR).strip()


def trim(text: str, context: ProcessorContext) -> str:
    """Without leading and trailing white space."""
    return text.strip()


def redact_request(messages: tuple[Message, ...], context: ProcessorContext) -> list[Message]:
    """Keys, e-mail addresses, card and phone numbers masked in every message, when the request
    goes to a hosted model; a model on this machine gets the messages as they are."""
    if not context.hosted:
        return list(messages)
    return [Message(m.role, redact_personal(m.content)) for m in messages]


def aliases(**settings: Any) -> Processor:
    """``{name: aliases, map: {yes: "true", y: "true"}, case_sensitive: false}``: an answer that
    is one of the aliases (white space around it ignored) becomes what it maps to."""
    unknown = sorted(set(settings) - {"map", "case_sensitive"})
    if unknown:
        raise TaskError(f"processor aliases: unknown setting '{unknown[0]}'",
                        "give map: {alias: answer} and optionally case_sensitive: true")
    table = settings.get("map")
    case = settings.get("case_sensitive", False)
    if not isinstance(table, Mapping) or not table:
        raise TaskError("processor aliases needs a map of alias -> answer",
                        'write {name: aliases, map: {yes: "true"}}')
    if len(table) > MAX_ALIASES:
        raise TaskError(f"processor aliases: more than {MAX_ALIASES} aliases", "shorten the map")
    if not isinstance(case, bool):
        raise TaskError("processor aliases: case_sensitive must be true or false", "fix it")
    pairs: dict[str, str] = {}
    for key, value in table.items():
        if not isinstance(key, str) or not isinstance(value, str | int | float) \
                or isinstance(value, bool) or not key.strip():
            raise TaskError(f"processor aliases: {key!r}: {value!r} is not text to text",
                            'quote both sides, e.g. "yes": "true"')
        pairs[key.strip() if case else key.strip().casefold()] = str(value)

    def apply(text: str, context: ProcessorContext) -> str:
        key = text.strip() if case else text.strip().casefold()
        return pairs.get(key, text)

    return Processor("aliases", after_response=apply)


BUILTIN_PROCESSORS: dict[str, Processor | ProcessorFactory] = {
    "strip-think": Processor("strip-think", after_response=strip_think),
    "first-line": Processor("first-line", after_response=first_line),
    "final-answer": Processor("final-answer", after_response=final_answer),
    "trim": Processor("trim", after_response=trim),
    "aliases": aliases,
    "redact": Processor("redact", before_request=redact_request),
}
