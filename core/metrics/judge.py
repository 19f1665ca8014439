"""An LLM judge: scores an answer 0-10, overall or on named rubric dimensions, parsed leniently.

Small judges rarely follow a format, so the parser takes the first plausible number
("Score: 7/10", "7 out of 10", "**8**") and falls back to 5 — with the reply kept as the reason —
rather than failing the run. With ``repeats`` k > 1 every answer is judged k times (the first at
temperature 0, the others sampled with their own seeds) and the judge keeps the ratings, so its
agreement with itself can be reported: a judge that disagrees with itself is flagged.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from ..models.base import Message, Model, Request
from ..task import Example, Task
from ..templates import TemplateLibrary, render_prompt
from .base import Score
from .stats import judge_is_consistent, krippendorff_alpha, mean_abs_deviation

_PATTERNS = (
    re.compile(r"score\W{0,5}(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?", re.I),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)", re.I),
    re.compile(r"\b(10|\d(?:\.\d+)?)\b"),
)
REPEAT_TEMPERATURE = 0.7


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


def parse_dimensions(reply: str, names: list[str]) -> dict[str, float]:
    """``name: N`` (or ``name - N/10``, ``**name**: N``) for each dimension found in the reply."""
    found: dict[str, float] = {}
    for name in names:
        m = re.search(rf"{re.escape(name)}\W{{0,6}}(\d+(?:\.\d+)?)", reply, re.I)
        if m and 0 <= float(m.group(1)) <= 10:
            found[name] = float(m.group(1))
    return found


@dataclass(frozen=True)
class RubricScore(Score):
    """A judge's score with its per-dimension means and the k overall ratings behind it."""

    parts: dict[str, float] = field(default_factory=dict)
    ratings: tuple[float, ...] = ()


@dataclass(frozen=True)
class JudgeConsistency:
    repeats: int
    answers: int
    alpha: float | None          # Krippendorff's alpha (interval) over the k ratings per answer
    mad: float                   # mean absolute deviation from each answer's mean, 0-1 scale
    unparsed: int                # replies with no score, counted as 5/10
    consistent: bool

    def describe(self) -> str:
        if self.repeats < 2:
            return f"judged once per answer ({self.unparsed} replies without a score)"
        alpha = "n/a" if self.alpha is None else f"{self.alpha:.2f}"
        verdict = "consistent" if self.consistent else "INCONSISTENT: treat its scores as noisy"
        return (f"{self.repeats} judgements per answer on {self.answers} answers: "
                f"Krippendorff's alpha {alpha}, mean deviation {self.mad:.2f} — {verdict}")

    def to_json(self) -> dict[str, object]:
        return {"repeats": self.repeats, "answers": self.answers, "alpha": self.alpha,
                "mad": self.mad, "unparsed": self.unparsed, "consistent": self.consistent}


@dataclass
class Judge:
    """Scores an answer against the task as the user wrote it (the original prompt, filled in
    with the example), never against the candidate being tried, so every candidate is judged
    by the same question."""

    model: Model
    templates: TemplateLibrary
    task: Task
    rubric: str | dict[str, str] | None = None
    repeats: int = 1
    max_tokens: int = 96
    seed: int = 0
    name: str = "judge"
    _ratings: list[list[float]] = field(default_factory=list, repr=False)
    _unparsed: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.rubric is None and self.task.rubric:
            self.rubric = self.task.rubric

    def _messages(self, answer: str, example: Example) -> tuple[Message, ...]:
        asked = "\n".join(render_prompt(m.content, example.inputs)
                          for m in self.task.messages if m.role != "assistant")
        common = {"request": asked.strip(), "description": self.task.description,
                  "expected": example.expected or "", "answer": answer.strip()}
        if isinstance(self.rubric, dict):
            return self.templates.render_messages(
                "judge/rubric.j2", dimensions=list(self.rubric.items()), **common)
        return self.templates.render_messages("judge/score.j2", rubric=self.rubric or "", **common)

    async def _judge_once(self, messages: tuple[Message, ...],
                          k: int) -> tuple[float, dict[str, float], str, bool]:
        request = Request(messages=messages, max_tokens=self.max_tokens,
                          temperature=0.0 if k == 0 else REPEAT_TEMPERATURE, seed=self.seed + k)
        reply = (await self.model.complete(request)).text
        value, reason, parsed = parse_judgement(reply)
        dims: dict[str, float] = {}
        if isinstance(self.rubric, dict):
            dims = parse_dimensions(reply, list(self.rubric))
            m = re.search(r"score\W{0,5}(\d+(?:\.\d+)?)", reply, re.I)
            if dims and not m:  # no overall line: the dimensions' mean is the score
                value, parsed = sum(dims.values()) / len(dims), True
                reason = reply.strip()[:500]
            elif dims:
                reason = reply[m.end():].strip(" .:-*\n") if m else reason
        return value, dims, reason, parsed

    async def score(self, answer: str, example: Example) -> RubricScore:
        messages = self._messages(answer, example)
        runs = await asyncio.gather(*(self._judge_once(messages, k) for k in range(self.repeats)))
        values = [r[0] for r in runs]
        unparsed = sum(1 for r in runs if not r[3])
        self._unparsed += unparsed
        self._ratings.append([v / 10.0 for v in values])
        parts: dict[str, float] = {}
        if isinstance(self.rubric, dict):
            for dim in self.rubric:
                got = [r[1][dim] for r in runs if dim in r[1]]
                if got:
                    parts[dim] = sum(got) / len(got) / 10.0
        mean = sum(values) / len(values) / 10.0
        reason = runs[0][2]
        if unparsed == len(runs):
            reason = f"(judge reply had no score; counted as 5) {reason}"
        return RubricScore(min(1.0, max(0.0, mean)), reason, "ok" if unparsed < len(runs)
                           else "parse_error", parts=parts, ratings=tuple(v / 10.0 for v in values))

    def consistency(self) -> JudgeConsistency:
        ratings = [list(r) for r in self._ratings]
        alpha = krippendorff_alpha(ratings) if self.repeats > 1 else None
        mad = mean_abs_deviation(ratings) if self.repeats > 1 else 0.0
        if self.repeats < 2 or (alpha is None and mad < 1e-9):
            consistent = True  # judged once, or the very same rating every time
        else:
            consistent = judge_is_consistent(alpha, mad)
        return JudgeConsistency(self.repeats, len(ratings), alpha, mad, self._unparsed, consistent)
