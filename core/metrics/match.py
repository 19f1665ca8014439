"""Metrics that compare an answer with the expected output, leniently where it helps.

Small models wrap answers in chatter ("Sure! The sentiment is: Positive."). ``label`` finds the
first known label (or alias of one) in the answer and reports "no label found" separately from
a wrong label.

Outcome tags: ``ok``, ``wrong`` (exact, contains), ``no_label`` / ``wrong_label`` (label).
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from ..errors import TaskError
from ..task import Example
from .base import Score

_QUOTES = "“”‘’«»„‟‚‛‹›"
_PUNCT = str.maketrans("", "", string.punctuation + _QUOTES)
_FOLD_QUOTES = str.maketrans({**dict.fromkeys("“”«»„‟", '"'), **dict.fromkeys("‘’‚‛‹›", "'")})

NORMALIZERS = ("case", "whitespace", "punctuation", "quotes", "accents")


def _once(text: str, case: bool, whitespace: bool, punctuation: bool, quotes: bool, accents: bool) -> str:
    text = unicodedata.normalize("NFKC", text)
    if accents:
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    if case:
        text = text.lower()
    if quotes:
        text = text.translate(_FOLD_QUOTES)
    if punctuation:
        text = text.translate(_PUNCT)
    if whitespace:
        text = " ".join(text.split())
    return text


def normalize(text: str, *, case: bool = True, whitespace: bool = True, punctuation: bool = True,
              quotes: bool = True, accents: bool = True) -> str:
    """Fold away what should not count as a difference; each step can be switched off.

    Always: Unicode NFKC (full-width letters, ligatures…). ``accents``: strip combining marks
    ("café" → "cafe"). ``case``: lower case. ``quotes``: typographic quotes → ASCII ones.
    ``punctuation``: ASCII punctuation and all quotes removed. ``whitespace``: runs of
    whitespace → one space, none at either end.

    Idempotent: the steps are repeated until the text no longer changes (one Unicode step
    can expose work for another, e.g. lower-casing "İ" yields a combining dot).
    """
    out = _once(text, case, whitespace, punctuation, quotes, accents)
    for _ in range(8):
        again = _once(out, case, whitespace, punctuation, quotes, accents)
        if again == out:
            break
        out = again
    return out


def _switches(normalizers: tuple[str, ...]) -> dict[str, bool]:
    unknown = sorted(set(normalizers) - set(NORMALIZERS))
    if unknown:
        raise TaskError(f"unknown normalizer '{unknown[0]}'", f"use some of: {', '.join(NORMALIZERS)}")
    return {n: n in normalizers for n in NORMALIZERS}


@dataclass(frozen=True)
class ExactMatch:
    """The normalized answer equals the normalized expected text. ``normalizers`` names the
    switches of :func:`normalize` to turn on (NFKC folding is always on)."""

    normalizers: tuple[str, ...] = ("case", "whitespace", "punctuation", "quotes")
    name: str = "exact"

    def __post_init__(self) -> None:
        _switches(self.normalizers)

    def norm(self, text: str) -> str:
        return normalize(text, **_switches(self.normalizers))

    async def score(self, answer: str, example: Example) -> Score:
        ok = self.norm(answer) == self.norm(example.expected or "")
        if ok:
            return Score(1.0, "", "ok")
        return Score(0.0, f"expected {example.expected!r}", "wrong")


@dataclass(frozen=True)
class Contains:
    """The normalized expected text occurs in the normalized answer, as whole words."""

    name: str = "contains"

    async def score(self, answer: str, example: Example) -> Score:
        want = normalize(example.expected or "")
        ok = bool(want) and re.search(rf"(^| ){re.escape(want)}( |$)", normalize(answer)) is not None
        if ok:
            return Score(1.0, "", "ok")
        return Score(0.0, f"{example.expected!r} not in the answer", "wrong")


@dataclass(frozen=True)
class LabelMatch:
    """The first label mentioned in the answer is its label.

    ``aliases`` maps other words to a label (``{"pos": "positive", "good": "positive"}``); an
    alias found in the answer counts as its label. Where two candidates start at the same place
    the longer one wins ("very positive" before "very").
    """

    labels: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    name: str = "label"

    def __post_init__(self) -> None:
        known = {normalize(label) for label in self.labels}
        for alias, label in self.aliases.items():
            if normalize(label) not in known:
                raise TaskError(f"alias '{alias}' maps to '{label}', which is not a label",
                                f"map it to one of: {', '.join(self.labels)}")

    @cached_property
    def _candidates(self) -> list[tuple[str, str]]:
        """(normalized word, label) pairs: each label itself, then its aliases."""
        by_norm = {normalize(label): label for label in self.labels}
        out = [(normalize(label), label) for label in self.labels]
        out += [(normalize(a), by_norm[normalize(label)]) for a, label in self.aliases.items()]
        return [(word, label) for word, label in out if word]

    def canonical(self, text: str) -> str | None:
        """The label that ``text`` is, or is an alias of; None if neither."""
        want = normalize(text)
        return next((label for word, label in self._candidates if word == want), None)

    def find(self, answer: str) -> str | None:
        text = f" {normalize(answer)} "
        best: tuple[int, int, str] | None = None  # (start, -length, label)
        for word, label in self._candidates:
            m = re.search(rf" {re.escape(word)} ", text)
            if m and (best is None or (m.start(), -len(word)) < best[:2]):
                best = (m.start(), -len(word), label)
        return best[2] if best else None

    async def score(self, answer: str, example: Example) -> Score:
        found = self.find(answer)
        if found is None:
            return Score(0.0, "no label found", "no_label")
        expected = example.expected or ""
        if found == (self.canonical(expected) or expected):
            return Score(1.0, "", "ok")
        return Score(0.0, f"wrong label {found!r}, expected {example.expected!r}", "wrong_label")
