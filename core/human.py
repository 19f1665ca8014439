"""The reviewer's prompts as candidates: an edit of a candidate (a child of what they rewrote),
a new text for the original's main message, or a whole prompt with [system]/[user] markers. An
input slot they left out is appended; a prompt that could not run is refused with a warning."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .candidate import Candidate
from .errors import TaskError
from .models.base import Message
from .promptfile import parse_prompt_text
from .review import RoundDecision, append_slots, check_slots, is_whole
from .task import Task
from .templates import prompt_slots

Warn = Callable[[str, str], None]  # (message, level: "warning" | "info")


def slots(cand: Candidate) -> frozenset[str]:
    return frozenset[str]().union(*(prompt_slots(m.content) for m in cand.messages))


class HumanPrompts:
    def __init__(self, task: Task, original: Candidate, warn: Warn) -> None:
        self.task = task
        self.original = original
        self.warn = warn

    def inputs(self) -> frozenset[str]:
        """The slots a person's prompt may use: the original's and the fields every example has."""
        fields = [frozenset(e.inputs) for e in self.task.examples]
        return slots(self.original) | (frozenset.intersection(*fields) if fields else frozenset())

    def from_decision(self, decision: RoundDecision,
                      by_id: Mapping[str, Candidate]) -> list[Candidate | None]:
        """The reviewer's edits and prompts (None for one that was refused)."""
        made: list[Candidate | None] = []
        for cid, text in decision.edits:
            base = by_id.get(cid)
            if base is None or not text.strip():
                self.warn(f"edit of {cid} ignored: "
                          + ("no such candidate" if base is None else "empty text"), "warning")
                continue
            made.append(self.rewrite(base, text, f"edit of {cid}", parents=(cid,),
                                     operator="edit", generation=base.generation + 1,
                                     note="edited by the reviewer"))
        for text in decision.add:
            if not text.strip():
                continue
            if is_whole(text):
                made.append(self.whole(text))
            else:
                made.append(self.rewrite(self.original, text, "your prompt",
                                         parents=(self.original.id,), operator="user",
                                         generation=1, note="written by the reviewer"))
        return made

    def rewrite(self, base: Candidate, text: str, what: str, **changes: Any) -> Candidate | None:
        """``base`` with its main message replaced by a person's text."""
        try:
            present = check_slots(text, self.inputs())
        except TaskError as exc:
            self.warn(f"{what} ignored: {exc}", "warning")
            return None
        missing = sorted(prompt_slots(base.messages[base.main_index()].content) - present)
        if missing:
            self.warn(f"{what}: appended the input it left out: " + ", ".join(missing), "info")
        return base.with_main(append_slots(text.strip(), missing), strategy="human", **changes)

    def whole(self, text: str) -> Candidate | None:
        """A prompt written whole; inputs it left out go at the end of its last user message."""
        messages = list(parse_prompt_text(text))
        try:
            present = frozenset[str]().union(*(check_slots(m.content, self.inputs())
                                               for m in messages))
        except TaskError as exc:
            self.warn(f"your prompt ignored: {exc}", "warning")
            return None
        missing = sorted(slots(self.original) - present)
        if missing:
            users = [i for i, m in enumerate(messages) if m.role == "user"]
            if users:
                last = users[-1]
                messages[last] = Message("user", append_slots(messages[last].content, missing))
            else:
                messages.append(Message("user", append_slots("", missing).strip()))
            self.warn("your prompt: appended the input it left out: " + ", ".join(missing), "info")
        return Candidate(tuple(messages), parents=(), strategy="human", operator="user",
                         note="written by the reviewer")
