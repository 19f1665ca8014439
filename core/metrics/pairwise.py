"""Pairwise judging with a position-swap check.

LLM judges favour whichever answer they read first (or second). Every pair is judged twice, in
both orders; a verdict counts only when the two orders agree, and the share of pairs where they
agree is reported — a judge that flips with the order is flagged instead of trusted.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Literal

from ..models.base import Model, Request
from ..task import Example, Task
from ..templates import TemplateLibrary, render_prompt
from .stats import SWAP_MIN, position_swap_agreement, sign_test

Verdict = Literal["A", "B", "tie"]
_WINNER = re.compile(r"winner\W{0,4}(answer\s+)?(a|b|tie)\b", re.I)
_LOOSE = re.compile(r"\b(?:answer\s+)?(A|B)\b(?:\s+is\s+better)?")


def parse_winner(reply: str) -> Verdict | None:
    m = _WINNER.search(reply)
    if m:
        word = m.group(2).lower()
        return "tie" if word == "tie" else ("A" if word == "a" else "B")
    if re.search(r"\btie\b|\bequal(ly)?\b", reply, re.I):
        return "tie"
    loose = _LOOSE.search(reply)
    if loose:
        return "A" if loose.group(1) == "A" else "B"
    return None


@dataclass(frozen=True)
class PairwiseResult:
    pairs: int
    b_wins: int              # pairs where both orders said B
    a_wins: int
    ties: int                # both orders said tie
    inconsistent: int        # the orders disagreed (or a reply had no verdict)
    swap_agreement: float
    p_value: float           # sign test on the consistent wins
    consistent: bool

    def describe(self) -> str:
        flag = "" if self.consistent else " — INCONSISTENT: the judge follows the order"
        return (f"pairwise judge on {self.pairs} pairs: B preferred {self.b_wins}, A {self.a_wins}, "
                f"tie {self.ties}, orders disagreed {self.inconsistent} (position-swap agreement "
                f"{self.swap_agreement:.0%}; sign test p={self.p_value:.3g}){flag}")

    def to_json(self) -> dict[str, object]:
        return {"pairs": self.pairs, "b_wins": self.b_wins, "a_wins": self.a_wins,
                "ties": self.ties, "inconsistent": self.inconsistent,
                "swap_agreement": self.swap_agreement, "p_value": self.p_value,
                "consistent": self.consistent}


@dataclass
class PairwiseJudge:
    model: Model
    templates: TemplateLibrary
    task: Task
    rubric: str | None = None
    max_tokens: int = 48
    seed: int = 0

    async def _ask(self, example: Example, first: str, second: str) -> Verdict | None:
        asked = "\n".join(render_prompt(m.content, example.inputs)
                          for m in self.task.messages if m.role != "assistant")
        messages = self.templates.render_messages(
            "judge/pairwise.j2", request=asked.strip(), description=self.task.description,
            rubric=self.rubric or self.task.rubric or "", expected=example.expected or "",
            answer_a=first.strip(), answer_b=second.strip())
        reply = await self.model.complete(Request(messages=messages, max_tokens=self.max_tokens,
                                                  temperature=0.0, seed=self.seed))
        return parse_winner(reply.text)

    async def judge(self, example: Example, answer_a: str, answer_b: str) -> tuple[Verdict | None,
                                                                                   Verdict | None]:
        """(verdict with A shown first, verdict with B shown first mapped back to A/B)."""
        first, swapped = await asyncio.gather(self._ask(example, answer_a, answer_b),
                                              self._ask(example, answer_b, answer_a))
        back: dict[Verdict, Verdict] = {"A": "B", "B": "A", "tie": "tie"}
        return first, (back[swapped] if swapped is not None else None)

    async def compare(self, examples: list[Example], answers_a: list[str],
                      answers_b: list[str]) -> PairwiseResult:
        verdicts = await asyncio.gather(*(self.judge(ex, a, b) for ex, a, b in
                                          zip(examples, answers_a, answers_b, strict=True)))
        a_wins = b_wins = ties = inconsistent = 0
        for first, second in verdicts:
            if first is None or first != second:
                inconsistent += 1
            elif first == "A":
                a_wins += 1
            elif first == "B":
                b_wins += 1
            else:
                ties += 1
        firsts = [f or "tie" for f, _ in verdicts]
        seconds = [s or ("B" if f == "A" else "A") for f, s in verdicts]  # no verdict: disagree
        agreement = position_swap_agreement(firsts, seconds) if verdicts else 1.0
        _, _, p = sign_test([1.0] * a_wins + [0.0] * b_wins, [0.0] * a_wins + [1.0] * b_wins)
        return PairwiseResult(len(verdicts), b_wins, a_wins, ties, inconsistent, agreement, p,
                              agreement >= SWAP_MIN)
