"""Candidates: prompt variants, identified by the hash of their content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from .metrics.match import normalize
from .models.base import Message


@dataclass(frozen=True)
class Candidate:
    messages: tuple[Message, ...]
    parents: tuple[str, ...] = ()
    strategy: str = "original"
    operator: str = "original"
    generation: int = 0
    note: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        blob = json.dumps([[m.role, m.content] for m in self.messages], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]

    @property
    def dedup_key(self) -> str:
        """Same prompt up to case, punctuation and spacing."""
        return "\n".join(f"{m.role}:{normalize(m.content)}" for m in self.messages)

    def text(self) -> str:
        if len(self.messages) == 1:
            return self.messages[0].content
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.messages)

    def main_index(self) -> int:
        """The message a rewrite edits: the system message if any, else the first user one."""
        for i, m in enumerate(self.messages):
            if m.role == "system":
                return i
        return next((i for i, m in enumerate(self.messages) if m.role == "user"), 0)

    def with_main(self, text: str, **changes: object) -> Candidate:
        idx = self.main_index()
        msgs = list(self.messages)
        msgs[idx] = Message(msgs[idx].role, text)
        return Candidate(messages=tuple(msgs), **changes)  # type: ignore[arg-type]

    def to_json(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]
