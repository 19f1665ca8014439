"""An LLM judge: scores an answer 0-10 with reasons, parsed leniently.

Small judges rarely follow a format, so the parser takes the first plausible number
("Score: 7/10", "7 out of 10", "**8**") and falls back to 5 — with the reply kept as the reason —
rather than failing the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models.base import Model, Request
from ..task import Example, Task
from ..templates import TemplateLibrary, render_prompt
from .base import Score

_PATTERNS = (
    re.compile(r"score\W{0,5}(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?", re.I),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)", re.I),
    re.compile(r"\b(10|\d(?:\.\d+)?)\b"),
)


def parse_judgement(reply: str) -> tuple[float, str, bool]:
    """(score in [0, 10], reason, parsed?)."""
    for pattern in _PATTERNS:
        m = pattern.search(reply)
        if m:
            value = float(m.group(1))
            if 0 <= value <= 10:
                reason = reply[m.end():].strip(" .:-*\n") or reply.strip()
                return value, reason[:500], True
    return 5.0, reply.strip()[:500], False


@dataclass
class Judge:
    """Scores an answer against the task as the user wrote it (the original prompt, filled in
    with the example), never against the candidate being tried, so every candidate is judged
    by the same question."""

    model: Model
    templates: TemplateLibrary
    task: Task
    max_tokens: int = 64
    seed: int = 0
    name: str = "judge"

    async def score(self, answer: str, example: Example) -> Score:
        asked = "\n".join(render_prompt(m.content, example.inputs)
                          for m in self.task.messages if m.role != "assistant")
        messages = self.templates.render_messages(
            "judge/score.j2", request=asked.strip(), description=self.task.description,
            rubric=self.task.rubric or "", expected=example.expected or "", answer=answer.strip(),
        )
        request = Request(messages=messages, max_tokens=self.max_tokens, temperature=0.0,
                          seed=self.seed)
        reply = (await self.model.complete(request)).text
        value, reason, parsed = parse_judgement(reply)
        note = reason if parsed else f"(judge reply had no score; counted as 5) {reason}"
        return Score(value / 10.0, note)
