"""What a check sees (``PromptFacts``) and what it reports (``Finding``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "information", "hint", "off"]

# code -> default severity; every diagnostic the server publishes has one of these codes.
CODES: dict[str, Severity] = {
    "template-syntax": "error",
    "undefined-variable": "error",
    "unused-variable": "warning",
    "too-long": "error",
    "output-format": "warning",
    "injection-risk": "warning",
    "weak-wording": "warning",
    "vague-quantifier": "information",
    "duplicate-instruction": "warning",
    "edited-since-best": "information",
    "task-error": "error",
    "outside-workspace": "error",
    "task-endpoint": "warning",
    "analysis-failed": "warning",
    "not-checked": "hint",
}


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    fix: str
    start: int = 0  # offsets into PromptFacts.text
    end: int = 0


@dataclass(frozen=True)
class PromptFacts:
    text: str
    templated: bool = True                   # {{ }} are slots (False: plain Python text)
    fields: frozenset[str] | None = None     # values a slot can take; None: unknown
    fields_from: str = ""                    # where ``fields`` come from, for messages
    report_unlinked_slots: bool = False      # a slot with no task at all is a finding
    metric_types: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    longest_values: int = 0                  # tokens of the longest example's slot values
    context_tokens: int | None = None
    context_from: str = ""
    answer_tokens: int = 0
    extra: dict[str, str] = field(default_factory=dict)
