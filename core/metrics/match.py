"""Metrics that compare an answer with the expected output, leniently where it helps.

Small models wrap answers in chatter ("Sure! The sentiment is: Positive."). ``label`` finds the
first known label in the answer and reports "no label found" separately from a wrong label.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass

from ..task import Example
from .base import Score

_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’«»")


def normalize(text: str) -> str:
    """Case, accents, quotes, punctuation and whitespace folded away."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().translate(_PUNCT)
    return " ".join(text.split())


@dataclass(frozen=True)
class ExactMatch:
    name: str = "exact"

    async def score(self, answer: str, example: Example) -> Score:
        ok = normalize(answer) == normalize(example.expected or "")
        return Score(1.0 if ok else 0.0, "" if ok else f"expected {example.expected!r}")


@dataclass(frozen=True)
class Contains:
    name: str = "contains"

    async def score(self, answer: str, example: Example) -> Score:
        want = normalize(example.expected or "")
        ok = bool(want) and re.search(rf"(^| ){re.escape(want)}( |$)", normalize(answer)) is not None
        return Score(1.0 if ok else 0.0, "" if ok else f"{example.expected!r} not in the answer")


@dataclass(frozen=True)
class LabelMatch:
    """The first label mentioned in the answer is its label."""

    labels: tuple[str, ...]
    name: str = "label"

    def find(self, answer: str) -> str | None:
        text = f" {normalize(answer)} "
        best: tuple[int, str] | None = None
        for label in self.labels:
            m = re.search(rf" {re.escape(normalize(label))} ", text)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), label)
        return best[1] if best else None

    async def score(self, answer: str, example: Example) -> Score:
        found = self.find(answer)
        if found is None:
            return Score(0.0, "no label found")
        if normalize(found) == normalize(example.expected or ""):
            return Score(1.0)
        return Score(0.0, f"wrong label {found!r}, expected {example.expected!r}")
