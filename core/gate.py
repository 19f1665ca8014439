"""Gates for CI: whether an ``eval`` or ``compare`` result is good enough to merge.

A gate is a list of checks, each with the number it read, the threshold it was held to and
whether it passed; the gate passes when every check does. The CLI turns a failed gate into exit
code :data:`EXIT_GATE_FAILED`, prints one line per check and adds :meth:`Gate.to_json` to
``--json`` output under ``gate``.

The rules:

* ``fail_under`` — the weighted score mean (``aggregate.mean``) must be at least the threshold.
  In ``compare`` every challenger (PROMPT_B, PROMPT_C, …) is checked; PROMPT_A is the baseline.
* ``min_lower`` — the lower end of the score's 95% interval must be at least the threshold: the
  gate passes only when the data say, with 95% confidence, that the prompt is that good.
* ``fail_on_regression`` (``compare``) — no challenger may be significantly worse than PROMPT_A
  at ``alpha``, after the Holm correction over the challengers (the verdict ``A is better``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .evaluate import ComparisonReport, EvalReport, Matchup
from .metrics.stats import Estimate

# A user mistake (2) is PromptTunerError.exit_code and Ctrl-C (130) the CLI's UserInterrupt's.
EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_INTERNAL = 3

Rule = Literal["fail-under", "min-lower", "fail-on-regression"]


@dataclass(frozen=True)
class Check:
    """One rule applied to one prompt: ``value`` against ``threshold``."""

    rule: Rule
    prompt: str
    value: float
    threshold: float
    passed: bool
    detail: str  # the measurement in words, e.g. "mean 0.500 [0.352, 0.648], n=40"

    @property
    def flag(self) -> str:
        return f"--{self.rule}"

    def line(self) -> str:
        """One line for a CI log: PASS/FAIL, the prompt, the value and the threshold."""
        verdict = "PASS" if self.passed else "FAIL"
        if self.rule == "fail-on-regression":
            what = ("significantly worse than PROMPT_A" if not self.passed
                    else "not significantly worse than PROMPT_A")
            return f"gate {verdict}: {self.prompt} is {what}: {self.detail} ({self.flag})"
        measure = "score mean" if self.rule == "fail-under" else "95% lower bound"
        relation = ">=" if self.passed else "<"
        return (f"gate {verdict}: {self.prompt} {measure} {self.value:.3f} {relation} "
                f"{self.flag} {self.threshold:.3f} ({self.detail})")

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "flag": self.flag, "prompt": self.prompt, "value": self.value,
                "threshold": self.threshold, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Gate:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_GATE_FAILED

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.to_json() for c in self.checks]}


def _describe(est: Estimate) -> str:
    return f"mean {est.mean:.3f} [{est.low:.3f}, {est.high:.3f}], n={est.n}"


def _score_checks(name: str, est: Estimate, fail_under: float | None,
                  min_lower: float | None) -> list[Check]:
    checks = []
    if fail_under is not None:
        checks.append(Check("fail-under", name, est.mean, fail_under,
                            est.n > 0 and est.mean >= fail_under, _describe(est)))
    if min_lower is not None:
        checks.append(Check("min-lower", name, est.low, min_lower,
                            est.n > 0 and est.low >= min_lower, _describe(est)))
    return checks


def eval_gate(report: EvalReport, name: str, *, fail_under: float | None = None,
              min_lower: float | None = None) -> Gate | None:
    """The gate of an ``eval`` (``None`` when no rule was asked for). ``name``: the prompt's."""
    checks = _score_checks(name, report.aggregate, fail_under, min_lower)
    return Gate(tuple(checks)) if checks else None


def _regression(m: Matchup, alpha: float) -> Check:
    c = m.overall
    worse = m.p_adjusted < alpha and c.diff < 0
    detail = (f"difference {c.diff:+.3f} [{c.diff_low:+.3f}, {c.diff_high:+.3f}], "
              f"Holm p={m.p_adjusted:.3g} vs alpha {alpha:g}, n={c.n}")
    return Check("fail-on-regression", m.name_b, c.diff, 0.0, not worse, detail)


def compare_gate(report: ComparisonReport, *, fail_on_regression: bool = False,
                 fail_under: float | None = None, min_lower: float | None = None) -> Gate | None:
    """The gate of a ``compare`` over the challengers (``None`` when no rule was asked for)."""
    checks: list[Check] = []
    for name, r, m in zip(report.names[1:], report.reports[1:], report.matchups, strict=True):
        if fail_on_regression:
            checks.append(_regression(m, report.alpha))
        checks += _score_checks(name, r.aggregate, fail_under, min_lower)
    return Gate(tuple(checks)) if checks else None
