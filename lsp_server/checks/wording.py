"""Weak wording in constraints ("try to", "if possible") and vague quantities ("a few bullets")."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import Finding, PromptFacts

_WEAK = re.compile(
    r"\b(try to|try and|attempt to|if possible|when possible|where possible|as much as possible|"
    r"if you can|ideally|preferably|should probably|maybe|perhaps|feel free to)\b", re.I)
_UNITS = (r"sentences?|words?|lines?|paragraphs?|bullets?|bullet points?|points?|items?|examples?|"
          r"options?|steps?|reasons?|ideas?|tips?|questions?|keywords?|tags?|hashtags?|emojis?|"
          r"characters?|sections?|suggestions?|facts?|details?|alternatives?|names?|titles?")
_VAGUE = re.compile(
    rf"\b(a few|a couple of|a number of|a handful of|some|several|many|various|multiple|"
    rf"a bit of|a lot of|lots of)\s+(?:\w+\s+)?({_UNITS})\b", re.I)


def check_wording(facts: PromptFacts) -> Iterator[Finding]:
    text = facts.text
    for m in _WEAK.finditer(text):
        phrase = m.group(1)
        yield Finding("weak-wording",
                      f"'{phrase}' makes a constraint optional: small models take it as permission "
                      "to skip it",
                      "state the rule plainly ('Answer in one word.'), or drop it if it is "
                      "really optional", m.start(), m.end())
    for m in _VAGUE.finditer(text):
        yield Finding("vague-quantifier",
                      f"'{m.group(0)}' does not say how many: answers will vary in length and "
                      "be hard to score",
                      f"give a number or a range ('3 {m.group(2)}', 'at most 5 {m.group(2)}')",
                      m.start(), m.end())
