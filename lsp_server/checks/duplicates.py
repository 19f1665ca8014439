"""The same instruction given twice (word for word, or nearly)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import Finding, PromptFacts

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_WORD = re.compile(r"[a-z0-9']+")
MIN_WORDS = 3
NEAR = 0.8
MAX_SENTENCES = 400


def _sentences(text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    out = []
    for m in _SENTENCE.finditer(text):
        words = tuple(_WORD.findall(m.group().lower()))
        if len(words) >= MIN_WORDS and "{{" not in m.group():
            lead = len(m.group()) - len(m.group().lstrip())
            out.append((m.start() + lead, m.end(), words))
    return out[:MAX_SENTENCES]


def _similar(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < 5:
        return False
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) >= NEAR


def check_duplicates(facts: PromptFacts) -> Iterator[Finding]:
    text = facts.text
    seen: list[tuple[int, int, tuple[str, ...]]] = []
    for start, end, words in _sentences(text):
        twin = next((s for s in seen if _similar(s[2], words)), None)
        if twin is None:
            seen.append((start, end, words))
            continue
        line = text.count("\n", 0, twin[0]) + 1
        same = "repeats" if twin[2] == words else "nearly repeats"
        quoted = text[twin[0]:twin[1]].strip()
        if len(quoted) > 60:
            quoted = quoted[:57] + "…"
        yield Finding("duplicate-instruction",
                      f"this {same} line {line} of the prompt: '{quoted}'",
                      "say it once: a repeated instruction costs tokens and competes with the rest",
                      start, end)
