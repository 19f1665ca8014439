"""Longer than the target model's context window (an estimated token count)."""

from __future__ import annotations

from collections.abc import Iterator

from ..tokens import estimate_tokens
from .base import Finding, PromptFacts


def _cut_point(text: str, budget: int) -> int:
    """The first offset at which the prompt's estimate passes ``budget`` tokens."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high) // 2
        if estimate_tokens(text[:mid]) > budget:
            high = mid
        else:
            low = mid + 1
    line_start = text.rfind("\n", 0, low) + 1
    return line_start


def check_length(facts: PromptFacts) -> Iterator[Finding]:
    limit = facts.context_tokens
    if not limit:
        return
    own = estimate_tokens(facts.text)
    total = own + facts.longest_values + facts.answer_tokens
    if total <= limit:
        return
    parts = [f"the prompt ≈{own:,}"]
    if facts.longest_values:
        parts.append(f"the longest example's values ≈{facts.longest_values:,}")
    if facts.answer_tokens:
        parts.append(f"the answer {facts.answer_tokens:,}")
    start = _cut_point(facts.text, max(0, limit - facts.longest_values - facts.answer_tokens))
    yield Finding("too-long",
                  f"longer than the target's context: ≈{total:,} tokens ({' + '.join(parts)}) > "
                  f"{limit:,} ({facts.context_from}); the model will not see the end",
                  "shorten the prompt (from here on it does not fit), or raise the context "
                  "(embedded.n_ctx / contextTokens)", start, len(facts.text))
