"""What a run spent, phase by phase: the baseline, each round, and the held-out check after the
last round. The store keeps running totals after each round; the phases are their differences."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from ..history import RunView
from .svg import (
    Frame,
    Scale,
    compact,
    el,
    empty,
    legend,
    nice_ticks,
    short_label,
    svg,
    title,
    x_axis,
    y_grid,
)

W, H = 560.0, 300.0


@dataclass(frozen=True)
class Phase:
    label: str
    calls: int
    cache_hits: int
    tokens: int
    cost: float
    seconds: float


def phases(view: RunView) -> list[Phase]:
    """Calls, cache hits, tokens, cost and time spent in each phase of the run."""
    out: list[Phase] = []
    calls = hits = tokens = 0
    cost = seconds = 0.0
    for r in view.rounds:
        out.append(Phase("baseline" if r.round == 0 else f"round {r.round}",
                         max(0, r.calls - calls), max(0, r.cache_hits - hits),
                         max(0, r.tokens - tokens), max(0.0, r.cost - cost),
                         max(0.0, r.elapsed_s - seconds)))
        calls, hits, tokens, cost, seconds = r.calls, r.cache_hits, r.tokens, r.cost, r.elapsed_s
    t = view.totals
    rest = int(t.get("calls") or 0) - calls
    if out and rest > 0:
        total_tokens = int(t.get("prompt_tokens") or 0) + int(t.get("completion_tokens") or 0)
        out.append(Phase("held-out check" if view.heldout else "confirmation", rest,
                         max(0, int(t.get("cache_hits") or 0) - hits),
                         max(0, total_tokens - tokens),
                         max(0.0, float(t.get("cost") or 0.0) - cost),
                         max(0.0, float(view.duration_s or 0.0) - seconds)))
    return out


def money(v: float) -> str:
    return "$0" if v == 0 else f"${v:.4f}" if v < 0.01 else f"${v:.2f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def cost_chart(view: RunView) -> Markup:
    name, label = "cost", "Model calls in each phase of the run"
    steps = phases(view)
    if not steps or not any(p.calls or p.cache_hits for p in steps):
        return empty(name, W, H, label, "Nothing to plot: no model calls were recorded by phase")
    f = Frame(W, H, top=46, bottom=40)
    top = max(p.calls + p.cache_hits for p in steps)
    ticks = nice_ticks(0, top, 4)
    y = Scale(0, ticks[-1], f.y0, f.y1)
    slot = (f.x1 - f.x0) / len(steps)
    bar = min(48.0, slot * 0.56)
    xs = [f.x0 + slot * (i + 0.5) for i in range(len(steps))]
    body = [y_grid(f, y, ticks, fmt="num", label="model calls"),
            x_axis(f, list(zip(xs, [short_label(p.label) if slot < 62 else p.label
                                    for p in steps], strict=True)))]
    for cx, p in zip(xs, steps, strict=True):
        tip = (f"{p.label}: {p.calls} calls sent, {p.cache_hits} cache hits\n"
               f"{p.tokens:,} tokens · {money(p.cost)} · {duration(p.seconds)}")
        top_y = y(p.calls)
        body.append(el("rect", title(tip), x=cx - bar / 2, y=top_y, width=bar,
                       height=max(0.0, f.y0 - top_y), rx=3, class_="pt bar calls"))
        if p.cache_hits:
            hy = y(p.calls + p.cache_hits)
            body.append(el("rect", title(tip), x=cx - bar / 2, y=hy, width=bar,
                           height=max(0.0, top_y - hy), rx=3, class_="bar hits"))
        body.append(el("text", compact(p.calls), x=cx,
                       y=y(p.calls + p.cache_hits) - (14 if slot >= 50 else 4),
                       class_="value", text_anchor="middle"))
        if slot >= 50:
            body.append(el("text", f"{compact(p.tokens)} tok", x=cx,
                           y=y(p.calls + p.cache_hits) - 3, class_="muted small",
                           text_anchor="middle"))
    items = [("calls", "calls sent")] + ([("hits", "cache hits")]
                                         if any(p.cache_hits for p in steps) else [])
    body.append(legend(f.x1, 14, items))
    return svg(name, W, H, label, *body)
