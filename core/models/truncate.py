"""Make a request fit a model's context instead of failing.

Two steps, in the configured order: ``shrink`` cuts the longest user-provided message from the
middle (keeping its head and tail, which usually hold the instructions and the question), and
``drop_examples`` removes few-shot turns (user/assistant pairs before the final user message),
oldest first. Each step reports what it cut so the caller can log it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from .base import Message, Request

Step = Literal["shrink", "drop_examples"]
MARK = "\n[… {n} characters cut to fit the context …]\n"
MIN_KEEP = 200


def _shrink_longest(request: Request, excess_chars: int) -> tuple[Request, str] | None:
    users = [(i, m) for i, m in enumerate(request.messages) if m.role == "user"]
    if not users:
        return None
    idx, longest = max(users, key=lambda im: len(im[1].content))
    text = longest.content
    cut = excess_chars + len(MARK) + 10
    if len(text) - cut < MIN_KEEP:
        cut = len(text) - MIN_KEEP
    if cut <= 0:
        return None
    head = (len(text) - cut) // 2
    tail = len(text) - cut - head
    new = text[:head] + MARK.format(n=cut) + text[len(text) - tail:]
    msgs = list(request.messages)
    msgs[idx] = Message(longest.role, new)
    return request.with_messages(tuple(msgs)), f"cut {cut} characters from the middle of message {idx}"


def _drop_example(request: Request) -> tuple[Request, str] | None:
    msgs = list(request.messages)
    last_user = max((i for i, m in enumerate(msgs) if m.role == "user"), default=-1)
    for i in range(len(msgs) - 1):
        if i >= last_user:
            break
        if msgs[i].role == "user" and msgs[i + 1].role == "assistant" and i + 1 < last_user:
            del msgs[i : i + 2]
            return request.with_messages(tuple(msgs)), f"dropped the few-shot turn at message {i}"
    return None


def fit(
    request: Request,
    budget_tokens: int,
    count: Callable[[Request], int],
    steps: Sequence[Step] = ("shrink", "drop_examples"),
) -> tuple[Request, list[str]]:
    """Return a request whose prompt counts at most ``budget_tokens``, and what was cut."""
    notes: list[str] = []
    for step in steps:
        for _ in range(64):
            used = count(request)
            if used <= budget_tokens:
                return request, notes
            if step == "shrink":
                chars_per_token = max(request.text_chars() / max(used, 1), 1.0)
                excess = int((used - budget_tokens) * chars_per_token) + 16
                result = _shrink_longest(request, excess)
            else:
                result = _drop_example(request)
            if result is None:
                break
            request, note = result
            notes.append(note)
    return request, notes
