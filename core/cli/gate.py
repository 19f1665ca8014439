"""The CI gate flags of ``eval`` and ``compare`` and how the terminal shows a gate: one line per
check on stderr (so ``--json`` stays one JSON document on stdout), and the exit code.

Exit codes of ``prompt-tuner``: 0 ok (the gate passed, or none was asked for), 1 the gate failed,
2 a user mistake, 130 interrupted, 3 an internal error (a bug).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from rich.console import Console
from rich.markup import escape

from core import Gate

PROG = "prompt-tuner"


def fraction(text: str) -> float:
    """An argparse ``type``: a score between 0 and 1 (a fraction, not a percentage)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        hint = f" (write {value / 100:g} for {value:g}%)" if 1 < value <= 100 else ""
        raise argparse.ArgumentTypeError(f"{text} must be a fraction between 0 and 1{hint}")
    return value


def add_flags(p: argparse.ArgumentParser, *, compare: bool) -> None:
    """``--fail-under``, ``--min-lower`` and, for ``compare``, ``--fail-on-regression``."""
    whose = "a challenger's (PROMPT_B, …)" if compare else "the prompt's"
    g = p.add_argument_group("CI gate", "exit 1 when the result misses a threshold (scores are "
                             "fractions 0..1); exit 0 otherwise")
    g.add_argument("--fail-under", type=fraction, metavar="SCORE",
                   help=f"fail when {whose} weighted score mean (the task's score, the mean "
                   "over its examples) is below SCORE")
    g.add_argument("--min-lower", type=fraction, metavar="SCORE",
                   help=f"fail when the lower end of {whose} 95%% CI of the score is below SCORE")
    if compare:
        g.add_argument("--fail-on-regression", action="store_true",
                       help="fail when a challenger is significantly worse than PROMPT_A at "
                       "--alpha, after the Holm correction")


def show(err: Console, gate: Gate | None) -> int:
    """Print the gate's lines and return the exit code (0 without a gate)."""
    if gate is None:
        return 0
    for check in gate.checks:
        colour = "green" if check.passed else "red"
        text = escape(check.line()).replace("gate PASS", f"gate [{colour}]PASS[/]", 1)
        text = text.replace("gate FAIL", f"gate [bold {colour}]FAIL[/]", 1)
        err.print(f"{PROG}: {text}", highlight=False, soft_wrap=True)
    return gate.exit_code


def with_gate(data: dict[str, Any], gate: Gate | None) -> dict[str, Any]:
    """``--json`` output with the gate under ``gate`` (left out when no rule was asked for)."""
    return data if gate is None else {**data, "gate": gate.to_json()}
