"""Static checks on one prompt: cheap, local, no model call. Each module holds one check; each
finding says what is wrong and how to fix it.

``run_checks(facts)`` runs them all; the server turns findings into LSP diagnostics with the
configured severities (``CODES`` lists the codes and their default severities).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from core import registered_checks

from .base import CODES, Finding, PromptFacts
from .duplicates import check_duplicates
from .injection import check_injection
from .length import check_length
from .output_format import check_output_format
from .template import check_template
from .wording import check_wording

Check = Callable[[PromptFacts], Iterable[Finding]]
CHECKS: tuple[Check, ...] = (check_template, check_length, check_output_format, check_injection,
                             check_wording, check_duplicates)

__all__ = ["CHECKS", "CODES", "Finding", "PromptFacts", "run_checks"]


def run_checks(facts: PromptFacts) -> list[Finding]:
    """Every registered check (the built-ins above, then the plugins'); a plugin's check that
    fails is reported as a finding of its own rather than taking the others down."""
    out: list[Finding] = []
    for name, check in registered_checks().items():
        try:
            out.extend(check(facts))
        except Exception as exc:  # a plugin's bug must not cost the user their diagnostics
            out.append(Finding("analysis-failed", f"check {name} failed: "
                               f"{type(exc).__name__}: {exc}"[:200], "report it to its plugin"))
    return out
