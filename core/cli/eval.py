"""How ``eval`` and ``compare`` look in a terminal: tables of estimates with their intervals,
usage, the worst answers, and the A/B verdict in words."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from core import ComparisonReport, EvalReport


def _short(value: Any, width: int = 90) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _usage_line(u: dict[str, Any], duration_s: float | None = None) -> str:
    lat = ""
    if u.get("latency_p50_s") is not None:
        lat = f" · latency p50 {u['latency_p50_s']:.2f}s p95 {u['latency_p95_s']:.2f}s"
    cost = f" · cost ${u['cost']:.4f}" if u.get("cost") else ""
    took = f" · {duration_s:.1f}s" if duration_s is not None else ""
    cut = f" · {u['truncated_answers']} hit the token limit" if u.get("truncated_answers") else ""
    return (f"{u['answers']} answers ({u['calls']} calls, {u['cache_hits']} cache hits) · "
            f"tokens {u['prompt_tokens']:,} in / {u['completion_tokens']:,} out{cost}{lat}{cut}{took}")


def _metrics_table(report: EvalReport) -> Table:
    table = Table()
    for col, justify in (("metric", "left"), ("mean", "right"), ("95% CI", "right"), ("n", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    rows = [("score" if len(report.metrics) > 1 else next(iter(report.metrics)), report.aggregate)]
    if len(report.metrics) > 1:
        rows += list(report.metrics.items())
    for name, est in rows:
        table.add_row(escape(name), _pct(est.mean), f"[{_pct(est.low)}, {_pct(est.high)}]", str(est.n))
    return table


def print_eval(out: Console, report: EvalReport) -> None:
    out.print(f"[bold]{escape(report.task_name)}[/] · split {report.split} · target "
              f"{escape(report.target)} · n={report.n}"
              + (f" x {report.repeats} repeats" if report.repeats > 1 else ""),
              highlight=False)
    out.print(_metrics_table(report))
    if report.repeats > 1:
        means = ", ".join(_pct(m) for m in report.repeat_means)
        spread = max(report.repeat_means) - min(report.repeat_means)
        out.print(f"Per-repeat means: {means} (spread {_pct(spread)})", highlight=False)
    if report.outcomes:
        parts = " · ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items(), key=lambda kv: -kv[1]))
        out.print(f"Outcomes: {escape(parts)}", highlight=False)
    out.print(f"Usage: {_usage_line(report.usage, report.duration_s)}", highlight=False)
    if report.judge_usage:
        ju = report.judge_usage
        out.print(f"Judge: {ju.get('calls', 0)} calls, {ju.get('cache_hits', 0)} cache hits", highlight=False)
    for j in report.judge:
        style = "" if j.consistent else "[yellow]"
        out.print(f"{style}Judge agreement: {escape(j.describe())}", highlight=False)
    if report.partial:
        out.print("[yellow]partial:[/] the budget ran out; the scores cover the examples answered")
    if report.worst:
        out.print("[bold]Worst answers[/]")
        for w in report.worst:
            inputs = ", ".join(f"{k}={_short(v, 60)!r}" for k, v in w.inputs.items())
            out.print(f"  #{w.index + 1} score {w.score:.2f} ({escape(w.outcome)}) "
                      f"{escape(_short(w.reason, 80))}", highlight=False)
            out.print(f"    input: {escape(inputs)}", highlight=False)
            if w.expected is not None:
                out.print(f"    expected: {escape(_short(w.expected))}", highlight=False)
            out.print(f"    answer: {escape(_short(w.answer))}", highlight=False)


def print_compare(out: Console, report: ComparisonReport) -> None:
    first = report.reports[0]
    out.print(f"[bold]{escape(first.task_name)}[/] · split {first.split} · target "
              f"{escape(first.target)} · {report.n} examples answered by every prompt",
              highlight=False)
    table = Table()
    for col in ("", "prompt", "score", "95% CI", "n"):
        table.add_column(col)
    for i, (name, r) in enumerate(zip(report.names, report.reports, strict=True)):
        est = r.aggregate
        table.add_row(_letter(i), escape(name), _pct(est.mean), f"[{_pct(est.low)}, {_pct(est.high)}]",
                      str(est.n))
    out.print(table)
    for i, m in enumerate(report.matchups, start=1):
        c = m.overall
        who = f"{_letter(i)} ({escape(m.name_b)}) vs A ({escape(report.names[0])})"
        out.print(f"[bold]{who}[/]", highlight=False)
        out.print(f"  difference {c.diff:+.1%} [{c.diff_low:+.1%}, {c.diff_high:+.1%}] · "
                  f"permutation p={c.p_value:.3g}"
                  + (f" (Holm-adjusted {m.p_adjusted:.3g})" if len(report.matchups) > 1 else "")
                  + f" · {c.test_name} p={c.test_p:.3g} · effect size d={c.effect_size:.2f}",
                  highlight=False)
        out.print(f"  B better on {c.b_wins}, A better on {c.a_wins}, tied on {c.ties}", highlight=False)
        for name, mc in m.metrics.items():
            out.print(f"  {escape(name)}: {mc.diff:+.1%} [{mc.diff_low:+.1%}, {mc.diff_high:+.1%}] "
                      f"p={mc.p_value:.3g}", highlight=False)
        if m.pairwise is not None:
            style = "" if m.pairwise.consistent else "[yellow]"
            out.print(f"  {style}{escape(m.pairwise.describe())}", highlight=False)
        verdict = m.verdict if len(report.matchups) == 1 else m.verdict.replace("B", _letter(i), 1)
        colour = "green" if "better" in verdict else "yellow"
        out.print(f"  Verdict: [bold {colour}]{escape(verdict)}[/]", highlight=False)
    total: dict[str, Any] = {}
    for r in report.reports:
        for k, v in r.usage.items():
            if isinstance(v, int | float) and not k.startswith("latency"):
                total[k] = total.get(k, 0) + v
    total.setdefault("latency_p50_s", None)
    out.print(f"Usage: {_usage_line(total)}", highlight=False)
    for j in report.reports[0].judge:
        out.print(f"Judge agreement: {escape(j.describe())}", highlight=False)


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else str(i + 1)

