"""A pull-request comment from ``prompt-tuner eval --json`` or ``compare --json`` output:
GitHub-flavoured Markdown with a table (prompt, score with its 95% CI, n, difference vs PROMPT_A
with its CI and p-value, verdict, gate ✅/❌) and the gate's checks.

Pure: a JSON document in, text out. The document is read defensively — it comes from a file —
and anything that is not such an output is one :class:`NotAResult` naming the first field that
is missing or of the wrong type. Every text from the document is escaped: names go in code spans,
other text loses Markdown and HTML meaning, so a prompt file named ``<img src=x>`` or ``@team``
shows as written and pings nobody.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import PromptTunerError

MARKER = "<!-- prompt-tuner-gate -->"  # lets a workflow find (and edit) its earlier comment
_MAX_TEXT = 120
_HINT = "pass the file that `prompt-tuner eval --json` or `compare --json` wrote"


class NotAResult(PromptTunerError):
    """The document is not the output of ``eval --json`` or ``compare --json``."""


# -- reading ---------------------------------------------------------------------------------


def _at(doc: Any, path: str, *more: str) -> Any:
    """``doc[k1][k2]…`` for the keys of ``path`` (split at dots) and then ``more`` (taken whole)."""
    keys = [*path.split("."), *more]
    value = doc
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise NotAResult(f"not an eval/compare result: '{'.'.join(keys)}' is missing", _HINT)
        value = value[key]
    return value


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _num(doc: Any, path: str, *more: str) -> float:
    value = _at(doc, path, *more)
    if not _is_num(value):
        raise NotAResult(f"not an eval/compare result: '{'.'.join([path, *more])}' is not a number",
                         _HINT)
    return float(value)


def _str(doc: Any, path: str) -> str:
    value = _at(doc, path)
    if not isinstance(value, str):
        raise NotAResult(f"not an eval/compare result: '{path}' is not text", _HINT)
    return value


def _list(doc: Any, path: str) -> list[Any]:
    value = _at(doc, path)
    if not isinstance(value, list):
        raise NotAResult(f"not an eval/compare result: '{path}' is not a list", _HINT)
    return value


# -- writing ---------------------------------------------------------------------------------


def _flat(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_TEXT else flat[: _MAX_TEXT - 1] + "…"


def code(text: str) -> str:
    """``text`` as an inline code span that survives a table cell (``|`` escaped)."""
    flat = _flat(text) or " "
    ticks = max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{'`' * ticks}{pad}{flat.replace('|', chr(92) + '|')}{pad}{'`' * ticks}"


def plain(text: str) -> str:
    """``text`` with no Markdown or HTML meaning and no @-mentions."""
    flat = _flat(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = re.sub(r"([\\`*_\[\]|#~!])", r"\\\1", flat)
    return flat.replace("@", "@\u2060")  # a word joiner: shown as @, mentions nobody


def pct(x: float) -> str:
    return f"{x:.1%}"


def _signed(x: float) -> str:
    return f"{x:+.1%}"


def _estimate(doc: Any, path: str, *more: str) -> tuple[str, int]:
    """An estimate as "50.0% [35.2%, 64.8%]", and its n."""
    mean, low, high = (_num(doc, path, *more, k) for k in ("mean", "low", "high"))
    return f"{pct(mean)} [{pct(low)}, {pct(high)}]", int(_num(doc, path, *more, "n"))


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else str(i + 1)


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


# -- the gate --------------------------------------------------------------------------------


_RULES = ("fail-under", "min-lower", "fail-on-regression")


def _checks(doc: dict[str, Any]) -> list[dict[str, Any]] | None:
    if doc.get("gate") is None:
        return None
    checks = _list(doc, "gate.checks")
    for i, c in enumerate(checks):
        if not (isinstance(c, dict) and c.get("rule") in _RULES
                and all(isinstance(c.get(k), str) for k in ("prompt", "detail"))
                and all(_is_num(c.get(k)) for k in ("value", "threshold"))
                and isinstance(c.get("passed"), bool)):
            raise NotAResult(f"not an eval/compare result: 'gate.checks' item {i + 1} is not a "
                             "check (rule, prompt, value, threshold, passed, detail)", _HINT)
    return checks


def _mark(passed: bool) -> str:
    return "✅" if passed else "❌"


def _gate_cell(checks: list[dict[str, Any]] | None, prompt: str) -> str:
    mine = [c["passed"] for c in checks or [] if c["prompt"] == prompt]
    return _mark(all(mine)) if mine else "—"


def _check_line(c: dict[str, Any]) -> str:
    flag = code(f"--{c['rule']}")
    if c["rule"] == "fail-on-regression":
        what = "not significantly worse than A" if c["passed"] else "significantly worse than A"
    else:
        measure = "score mean" if c["rule"] == "fail-under" else "95% lower bound"
        what = f"{measure} {pct(c['value'])} {'≥' if c['passed'] else '<'} {pct(c['threshold'])}"
    return (f"- {_mark(c['passed'])} **{'PASS' if c['passed'] else 'FAIL'}** {code(c['prompt'])}: "
            f"{what} ({flag}; {plain(c['detail'])})")  # what: numbers and our own words


def _gate_lines(checks: list[dict[str, Any]] | None) -> list[str]:
    if checks is None:
        return ["No gate was set (`--fail-under`, `--min-lower`, `--fail-on-regression`)."]
    passed = all(c["passed"] for c in checks)
    return [f"**Gate: {_mark(passed)} {'passed' if passed else 'failed'}**", "",
            *[_check_line(c) for c in checks]]


def _title(kind: str, checks: list[dict[str, Any]] | None) -> str:
    if checks is None:
        return f"### prompt-tuner {kind}"
    passed = all(c["passed"] for c in checks)
    return f"### {_mark(passed)} prompt-tuner {kind}: gate {'passed' if passed else 'failed'}"


# -- eval and compare ------------------------------------------------------------------------


def _context(first: Any, extra: str) -> str:
    return (f"**{plain(_str(first, 'task'))}** · split {plain(_str(first, 'split'))} · target "
            f"{code(_str(first, 'target'))} · {extra}")


def _render_eval(doc: dict[str, Any]) -> list[str]:
    checks = _checks(doc)
    name = doc["name"] if isinstance(doc.get("name"), str) else "prompt"
    score, n = _estimate(doc, "aggregate")
    rows = [[code(name), "score", score, str(n), _gate_cell(checks, name)]]
    metrics = _at(doc, "metrics")
    if isinstance(metrics, dict) and len(metrics) > 1:
        for metric in metrics:
            est, k = _estimate(doc, "metrics", str(metric))
            rows.append(["", code(str(metric)), est, str(k), ""])
    lines = [_title("eval", checks), "", _context(doc, f"{int(_num(doc, 'n'))} examples"), ""]
    lines += _table(["prompt", "metric", "score [95% CI]", "n", "gate"],
                    [":--", ":--", "--:", "--:", ":-:"], rows)
    if doc.get("partial") is True:
        lines += ["", "⚠️ The budget ran out: the score covers the examples answered."]
    return [*lines, "", *_gate_lines(checks)]


def _verdict(text: str, i: int, several: bool) -> str:
    verdict = text.replace("B", _letter(i), 1) if several else text
    return f"⚠️ {verdict}" if verdict == "A is better" else verdict


def _render_compare(doc: dict[str, Any]) -> list[str]:
    checks = _checks(doc)
    prompts, comparisons = _list(doc, "prompts"), _list(doc, "comparisons")
    if len(prompts) < 2 or len(comparisons) != len(prompts) - 1:
        raise NotAResult("not a compare result: it needs PROMPT_A and one comparison per "
                         "challenger", _HINT)
    several = len(comparisons) > 1
    names = [_str(p, "name") for p in prompts]
    score, n = _estimate(prompts[0], "aggregate")
    rows = [["A", code(names[0]), score, str(n), "—", "—", "baseline", _gate_cell(checks, names[0])]]
    for i, (p, c) in enumerate(zip(prompts[1:], comparisons, strict=True), start=1):
        score, n = _estimate(p, "aggregate")
        diff = (f"{_signed(_num(c, 'overall.diff'))} [{_signed(_num(c, 'overall.diff_low'))}, "
                f"{_signed(_num(c, 'overall.diff_high'))}]")
        p_value = _num(c, "p_adjusted" if several else "overall.p_value")
        rows.append([_letter(i), code(names[i]), score, str(n), diff, f"{p_value:.3g}",
                     plain(_verdict(_str(c, "verdict"), i, several)), _gate_cell(checks, names[i])])
    alpha = _num(doc, "alpha")
    extra = f"{int(_num(doc, 'n'))} examples answered by every prompt · α = {alpha:g}"
    lines = [_title("compare", checks), "", _context(prompts[0], extra), ""]
    lines += _table(["", "prompt", "score [95% CI]", "n", "Δ vs A [95% CI]",
                     "p (Holm)" if several else "p", "verdict", "gate"],
                    [":-:", ":--", "--:", "--:", "--:", "--:", ":--", ":-:"], rows)
    if any(isinstance(p, dict) and p.get("partial") is True for p in prompts):
        lines += ["", "⚠️ The budget ran out: the scores cover the examples answered."]
    return [*lines, "", *_gate_lines(checks)]


def render_gate_markdown(doc: Any) -> str:
    """The comment body for an ``eval --json`` or ``compare --json`` document."""
    if not isinstance(doc, dict):
        raise NotAResult("not an eval/compare result: the JSON is not an object", _HINT)
    if "comparisons" in doc or "prompts" in doc:
        lines = _render_compare(doc)
    elif "aggregate" in doc:
        lines = _render_eval(doc)
    else:
        raise NotAResult("not an eval/compare result: it has neither 'aggregate' nor "
                         "'comparisons'", _HINT)
    footer = ("<sub>Scores are the task's weighted score, 0-100%, with 95% intervals · "
              "prompt-tuner exits 1 when the gate fails</sub>")
    return "\n".join([MARKER, *lines, "", footer]) + "\n"
