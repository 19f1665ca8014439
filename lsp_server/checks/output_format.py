"""The task scores labels or JSON, but the prompt never says what the answer must look like."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import Finding, PromptFacts

_FORMAT_WORDS = re.compile(r"\b(answer with|respond with|reply with|one word|one of|output)\b", re.I)


def _first_line(text: str) -> tuple[int, int]:
    end = text.find("\n")
    return 0, len(text) if end == -1 else end


def check_output_format(facts: PromptFacts) -> Iterator[Finding]:
    text = facts.text
    lower = text.lower()
    start, end = _first_line(text)
    if "json" in facts.metric_types and "json" not in lower:
        yield Finding("output-format",
                      "the task scores JSON answers, but the prompt never asks for JSON",
                      "say so and show the shape, e.g. 'Answer with JSON only: {\"name\": …}'",
                      start, end)
    if "label" in facts.metric_types and facts.labels:
        named = [lb for lb in facts.labels if re.search(rf"\b{re.escape(lb.lower())}\b", lower)]
        if not named:
            choices = " or ".join(facts.labels[:6])
            yield Finding("output-format",
                          f"the task scores one of the labels {', '.join(facts.labels[:6])}, "
                          "but the prompt never names them",
                          f"add e.g. 'Answer with one word: {choices}.'", start, end)
        elif len(named) < len(facts.labels) and not _FORMAT_WORDS.search(text):
            missing = [lb for lb in facts.labels if lb not in named]
            yield Finding("output-format",
                          f"the prompt never names the label(s) {', '.join(missing[:6])}",
                          "list every allowed answer, e.g. 'Answer with one word: "
                          f"{' or '.join(facts.labels[:6])}.'", start, end)
